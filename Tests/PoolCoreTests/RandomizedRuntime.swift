import Testing
@testable import PoolCore

/// A stand-in runtime for the randomized test. It does what the real runtime does with every
/// action (connects, resets, checks and closes complete later, timers fire when the clock passes
/// them) and keeps its own model of connections, leases and waiting borrows, built only from the
/// actions. After every step the model is held against DESIGN.md's invariants 1, 2 and 6 and
/// against the group's own status.
struct RandomizedRuntime {
    var group: TestGroup
    var now = MockInstant()
    var random: SplitMix64
    /// Pending timers: deadline, and the order they were scheduled in to break ties repeatably.
    var timers: [PoolTimerKind: (deadline: MockInstant, order: UInt64)] = [:]
    var timerOrder: UInt64 = 0
    var problems: [String] = []
    var step = 0
    /// With tracing on (`POOLCORE_TRACE=1`), the last events and their actions, shown with the
    /// first problem. Off by default: formatting every action would triple the run time.
    var tracing = false
    var trace: [String] = []

    // Connections, by where the model knows them to be.
    var poolOf: [ConnectionID: PoolID] = [:]
    var connectionsPerPool: [PoolID: Int] = [:]
    var connecting: Set<ConnectionID> = []
    var backingOff: Set<ConnectionID> = []
    var established: Set<ConnectionID> = []
    var closing: Set<ConnectionID> = []
    var resetting: Set<ConnectionID> = []
    var checking: Set<ConnectionID> = []

    var leases: [LeaseID: Lease] = [:]
    var leaseOf: [ConnectionID: LeaseID] = [:]

    var pending: [UInt64: Request] = [:]
    var outcomes: [UInt64: Outcome] = [:]
    var nextRequest: UInt64 = 1

    // Limits as the model knows them, and ceilings that only come down to them after a shrink.
    var limits: [PoolID: PoolLimits] = [:]
    var ceilings: [PoolID: Int] = [:]
    var waitingCeilings: [PoolID: Int] = [:]
    /// The borrow being made, the only one `too_many_waiting` may answer.
    var borrowing: UInt64?
    var serverOf: [PoolID: ServerID] = [:]
    /// The server a deleted pool was on, for the pool that replaces it.
    var replacementServer: [PoolID: ServerID] = [:]
    var serverLimit: [ServerID: Int] = [:]
    var serverCeiling: [ServerID: Int] = [:]
    var closedPools: Set<PoolID> = []
    var shutdownComplete = false
    var revokeReasons: [RevokeReason: Int] = [:]
    var closeReasons: [CloseReason: Int] = [:]

    init(seed: UInt64) {
        self.random = SplitMix64(seed: seed)
        self.group = TestGroup(now: self.now, random: SplitMix64(seed: seed ^ 0xA5A5_A5A5))
    }

    mutating func fail(_ message: String) {
        if self.problems.isEmpty {
            self.problems.append(
                self.tracing ? "recent events:\n" + self.trace.joined(separator: "\n") : "set POOLCORE_TRACE=1 to see the events"
            )
        }
        if self.problems.count < 20 {
            self.problems.append("step \(self.step): \(message)")
        }
    }

    mutating func note(_ event: @autoclosure () -> String) {
        guard self.tracing else { return }
        self.trace.append("[\(self.step) \(self.now)] \(event())")
        if self.trace.count > 30 {
            self.trace.removeFirst()
        }
    }

    // MARK: Applying actions

    mutating func apply(_ actions: PoolActions) {
        if self.tracing, !actions.isEmpty {
            self.note("  -> \(actions)")
        }
        for action in actions {
            self.apply(action)
        }
    }

    mutating func apply(_ action: PoolAction) {
        switch action {
        case .grant(let grant):
            self.applyGrant(grant)
        case .fail(let request, let pool, let failure):
            guard let entry = self.pending.removeValue(forKey: request) else {
                self.fail("failure \(failure) for request \(request) that is not waiting")
                return
            }
            if entry.pool != pool { self.fail("failure for \(request) names \(pool), not \(entry.pool)") }
            self.checkFailure(failure, of: request, entry)
            self.outcomes[request] = failure == .timeout ? .timedOut : .failed(failure)
        case .open(let id, let pool, let attempt):
            if attempt == 1 {
                if self.poolOf[id] != nil { self.fail("\(id) opened twice") }
                self.poolOf[id] = pool
                self.connectionsPerPool[pool, default: 0] += 1
                self.connecting.insert(id)
                self.checkRoom(for: pool)
            } else {
                if self.backingOff.remove(id) == nil { self.fail("retry of \(id) that was not backing off") }
                self.connecting.insert(id)
            }
        case .reset(let id):
            if !self.established.contains(id) || self.leaseOf[id] != nil || self.closing.contains(id) {
                self.fail("reset of \(id) that is not a returned connection")
            }
            self.resetting.insert(id)
        case .healthCheck(let id):
            if !self.established.contains(id) || self.leaseOf[id] != nil || self.closing.contains(id) {
                self.fail("health check of \(id) that is not idle")
            }
            self.checking.insert(id)
        case .close(let id, let reason):
            self.closeReasons[reason, default: 0] += 1
            if !self.established.contains(id) || self.closing.contains(id) {
                self.fail("close of \(id) that is not open")
            }
            if self.leaseOf[id] != nil { self.fail("close of \(id) while it is still leased") }
            self.closing.insert(id)
        case .revoke(let lease, let id, let reason):
            self.revokeReasons[reason, default: 0] += 1
            guard let entry = self.leases.removeValue(forKey: lease) else {
                self.fail("revoke of unknown \(lease)")
                return
            }
            if entry.connection != id { self.fail("revoke of \(lease) names \(id)") }
            self.leaseOf[id] = nil
        case .schedule(let timer):
            self.timerOrder += 1
            self.timers[timer.kind] = (timer.deadline(after: self.now), self.timerOrder)
        case .cancel(let kind):
            self.timers[kind] = nil
            if case .connectBackoff(let id) = kind, self.backingOff.remove(id) != nil {
                self.forget(id)
            }
        case .poolClosed(let pool):
            if self.connections(of: pool) > 0 {
                self.fail("\(pool) reported closed with connections left (invariant 5)")
            }
            if self.pending.values.contains(where: { $0.pool == pool }) {
                self.fail("\(pool) reported closed with borrows still waiting")
            }
            self.closedPools.insert(pool)
            self.limits[pool] = nil
            self.ceilings[pool] = nil
            self.connectionsPerPool[pool] = nil
            if let server = self.serverOf.removeValue(forKey: pool) {
                self.replacementServer[pool] = server
            }
        case .shutdownComplete:
            if !self.poolOf.isEmpty { self.fail("shutdown complete with \(self.poolOf.count) connections left (invariant 5)") }
            self.shutdownComplete = true
        }
    }

    mutating func applyGrant(_ grant: LeaseGrant) {
        guard let request = self.pending.removeValue(forKey: grant.request) else {
            self.fail("lease for request \(grant.request) that is not waiting")
            return
        }
        self.outcomes[grant.request] = .served
        if grant.pool != request.pool { self.fail("lease from the wrong pool") }
        if grant.reused {
            guard let existing = self.leases[grant.lease], existing.caller == request.caller, existing.key == request.key,
                existing.key != nil
            else {
                self.fail("reused lease \(grant.lease) does not match the caller and key")
                return
            }
            return
        }
        // Invariant 6: nobody who arrived earlier in the same pool and whose caller may take a
        // lease is still waiting; only a caller at its quota is passed over.
        if let earlier = self.pending.first(where: {
            $0.value.pool == request.pool && $0.value.arrival < request.arrival && self.mayLease($0.value.caller, in: request.pool)
        }) {
            self.fail("request \(grant.request) served before earlier request \(earlier.key) of \(earlier.value.caller)")
        }
        // Invariant 1, per caller.
        let held = self.held(by: request.caller, in: request.pool)
        if let quota = self.limits[request.pool]?.maxPerCaller, held >= quota {
            self.fail("\(request.caller) got lease \(held + 1) over its quota \(quota)")
        }
        // Invariant 2: the connection is open, in the pool and held by nobody.
        let id = grant.connectionID
        if !self.established.contains(id) || self.closing.contains(id) || self.resetting.contains(id)
            || self.checking.contains(id)
        {
            self.fail("lease on \(id) that is not an idle open connection")
        }
        if let other = self.leaseOf[id] { self.fail("\(id) leased twice: \(other) and \(grant.lease)") }
        if self.leases[grant.lease] != nil { self.fail("lease id \(grant.lease) reused") }
        self.leases[grant.lease] = Lease(pool: request.pool, caller: request.caller, key: request.key, connection: id)
        self.leaseOf[id] = grant.lease
    }

    func held(by caller: String, in pool: PoolID) -> Int {
        self.leases.values.reduce(0) { $0 + ($1.pool == pool && $1.caller == caller ? 1 : 0) }
    }

    func mayLease(_ caller: String, in pool: PoolID) -> Bool {
        guard let quota = self.limits[pool]?.maxPerCaller else { return true }
        return self.held(by: caller, in: pool) < quota
    }

    /// Each failure names the real reason: a wait that ended did end, paused while the pool was
    /// paused, at the quota while the caller held it; a full queue is refused at once, and only
    /// while `max_waiting` others wait.
    mutating func checkFailure(_ failure: BorrowFailure, of request: UInt64, _ entry: Request) {
        switch failure {
        case .timeout, .paused, .callerQuota, .serverBudgetExhausted:
            if entry.deadline > self.now { self.fail("request \(request) ended as \(failure) before its deadline") }
            let paused = self.group.status(entry.pool)?.paused == true
            if (failure == .paused) != paused {
                self.fail("request \(request) ended as \(failure) while the pool was \(paused ? "" : "not ")paused")
            }
            if failure == .callerQuota, self.mayLease(entry.caller, in: entry.pool) {
                self.fail("request \(request) ended as caller_quota while \(entry.caller) was under its quota")
            }
            if failure == .timeout, !self.mayLease(entry.caller, in: entry.pool) {
                self.fail("request \(request) ended as a plain timeout while \(entry.caller) held its quota")
            }
            if case .serverBudgetExhausted(let server, let limit) = failure {
                let used = self.connections(on: server)
                if used < limit { self.fail("request \(request) ended as server_budget_exhausted with \(used) of \(limit) on \(server)") }
                if let max = self.limits[entry.pool]?.max, self.connections(of: entry.pool) >= max {
                    self.fail("request \(request) ended as server_budget_exhausted while its pool was at its max \(max)")
                }
            } else if failure == .timeout, let server = self.serverOf[entry.pool], let limit = self.serverLimit[server],
                self.connections(on: server) >= limit, let max = self.limits[entry.pool]?.max, self.connections(of: entry.pool) < max,
                self.mayLease(entry.caller, in: entry.pool)
            {
                self.fail("request \(request) ended as a plain timeout while its pool had room and \(server) was full")
            }
        case .tooManyWaiting:
            if self.borrowing != request { self.fail("request \(request) refused as too_many_waiting after it waited") }
            let others = self.pending.values.filter { $0.pool == entry.pool }.count
            if let limit = self.limits[entry.pool]?.maxWaiting, others < limit {
                self.fail("request \(request) refused with \(others) waiting, under max_waiting \(limit)")
            }
        default:
            break
        }
    }

    /// Invariant 1 at the moment a connect starts: the pool and its server have room.
    mutating func checkRoom(for pool: PoolID) {
        let total = self.connections(of: pool)
        if let limit = self.limits[pool]?.max, total > limit {
            self.fail("\(pool) opens connection \(total) over max \(limit)")
        }
        if let server = self.serverOf[pool], let limit = self.serverLimit[server] {
            let used = self.connections(on: server)
            if used > limit { self.fail("\(server) opens connection \(used) over its budget \(limit)") }
        }
    }

    /// Connections of a pool the runtime knows: being opened or retried, open, or closing.
    func connections(of pool: PoolID) -> Int {
        self.connectionsPerPool[pool] ?? 0
    }

    func connections(on server: ServerID) -> Int {
        self.serverOf.reduce(0) { $0 + ($1.value == server ? self.connections(of: $1.key) : 0) }
    }

    mutating func forget(_ id: ConnectionID) {
        if let pool = self.poolOf.removeValue(forKey: id) {
            self.connectionsPerPool[pool, default: 0] -= 1
        }
        self.connecting.remove(id)
        self.backingOff.remove(id)
        self.established.remove(id)
        self.closing.remove(id)
        self.resetting.remove(id)
        self.checking.remove(id)
    }

    // MARK: Checks after every step

    /// - Parameter bookkeeping: also recount the group's internal bookkeeping (slower; the
    ///   invariants themselves are checked from the outside on every call).
    mutating func checkInvariants(bookkeeping: Bool = true) {
        if bookkeeping {
            for problem in self.group.invariantViolations() {
                self.fail("group bookkeeping: \(problem)")
            }
        }
        for pool in self.group.poolIDs {
            guard let status = self.group.status(pool) else { continue }
            self.compare(status, pool: pool)
        }
        // Invariant 1 with the ceilings: after a shrink, the count only ever comes down to max.
        for (pool, limits) in self.limits {
            let total = self.connections(of: pool)
            var ceiling = self.ceilings[pool] ?? limits.max
            if total > ceiling { self.fail("\(pool) holds \(total) connections, over \(ceiling)") }
            ceiling = max(limits.max, min(ceiling, total))
            self.ceilings[pool] = ceiling
        }
        for (server, limit) in self.serverLimit {
            let used = self.connections(on: server)
            var ceiling = self.serverCeiling[server] ?? limit
            if used > ceiling { self.fail("\(server) holds \(used) connections, over \(ceiling)") }
            ceiling = max(limit, min(ceiling, used))
            self.serverCeiling[server] = ceiling
            if let usage = self.group.serverUsage(server), usage.used != used {
                self.fail("\(server) counts \(usage.used) connections, the runtime knows \(used)")
            }
        }
        // Invariant 6: nobody waits past the deadline (every due timer has fired by now).
        for (request, entry) in self.pending where entry.deadline <= self.now {
            self.fail("request \(request) still waits after its deadline")
        }
        // The queue stays within max_waiting; after a shrink it only comes down to it.
        for (pool, limits) in self.limits {
            let waiting = self.pending.values.filter { $0.pool == pool }.count
            var ceiling = self.waitingCeilings[pool] ?? limits.maxWaiting
            if waiting > ceiling { self.fail("\(pool) has \(waiting) waiting, over \(ceiling)") }
            ceiling = max(limits.maxWaiting, min(ceiling, waiting))
            self.waitingCeilings[pool] = ceiling
        }
        if !self.group.isShuttingDown {
            for pool in self.group.poolIDs {
                self.checkNoServableWaiterBesideAnIdleConnection(pool)
            }
        }
    }

    /// A caller at its quota never blocks the others: while a connection is idle and ready to go
    /// out, nobody waits whose caller may take it.
    mutating func checkNoServableWaiterBesideAnIdleConnection(_ pool: PoolID) {
        guard let status = self.group.status(pool), status.state != .draining, !status.paused else { return }
        let checkAfter = status.configuration.healthCheckAfter
        guard let ready = status.connections.first(where: { row in
            row.state == .idle && row.retiring == nil
                && !(checkAfter.map { row.lastUsedAt.advanced(by: $0) < self.now } ?? false)
        }) else { return }
        for (request, entry) in self.pending where entry.pool == pool && self.mayLease(entry.caller, in: pool) {
            self.fail("request \(request) of \(entry.caller) waits while \(ready.id) is idle")
        }
    }

    /// Invariant 2 seen from outside: each connection the runtime knows is in exactly the state
    /// the group reports, and each lease is on exactly one connection.
    mutating func compare(_ status: TestGroup.PoolStatus, pool: PoolID) {
        var seen: Set<ConnectionID> = []
        for row in status.connections {
            seen.insert(row.id)
            let expected: ConnectionState
            if self.closing.contains(row.id) {
                expected = .closing
            } else if self.resetting.contains(row.id) {
                expected = .resetting
            } else if self.checking.contains(row.id) {
                expected = .checking
            } else if self.leaseOf[row.id] != nil {
                expected = .leased
            } else if self.established.contains(row.id) {
                expected = .idle
            } else if self.connecting.contains(row.id) {
                expected = .opening
            } else if self.backingOff.contains(row.id) {
                expected = .backoff
            } else {
                self.fail("\(pool) reports \(row.id) (\(row.state)) the runtime does not know")
                continue
            }
            if row.state != expected { self.fail("\(row.id) is \(row.state), expected \(expected)") }
            if row.state == .leased, row.lease != self.leaseOf[row.id] { self.fail("\(row.id) leased under another id") }
            if self.poolOf[row.id] != pool { self.fail("\(row.id) reported by the wrong pool") }
        }
        for (id, owner) in self.poolOf where owner == pool && !seen.contains(id) {
            self.fail("\(pool) lost track of \(id)")
        }
        let waiting = self.pending.values.filter { $0.pool == pool }.count
        if status.counts.waiting != waiting {
            self.fail("\(pool) has \(status.counts.waiting) waiting, the runtime \(waiting)")
        }
    }
}
