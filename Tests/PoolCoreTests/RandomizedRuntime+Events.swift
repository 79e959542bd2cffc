@testable import PoolCore

/// The random events the randomized test draws from.
extension RandomizedRuntime {
    static let callers = ["a", "b", "c", "d"]

    static func configuration(min: Int, max: Int, perCaller: Int, maxWaiting: Int? = nil) -> PoolConfiguration {
        PoolConfiguration(
            limits: PoolLimits(min: min, max: max, maxPerCaller: perCaller, maxWaiting: maxWaiting),
            leaseTTL: .seconds(3),
            borrowTimeout: .seconds(2),
            maxLifetime: .seconds(20),
            maxLifetimeJitter: .seconds(2),
            idleTimeout: .seconds(6),
            healthCheckAfter: .seconds(3),
            connectRetry: ConnectRetry(attempts: 3, baseDelay: .milliseconds(50), maxDelay: .milliseconds(400)),
            probeInterval: .seconds(1)
        )
    }

    mutating func number(below bound: Int) -> Int {
        Int(self.random.next() % UInt64(bound))
    }

    mutating func chance(_ percent: Int) -> Bool {
        self.number(below: 100) < percent
    }

    mutating func pick<Element>(_ items: [Element]) -> Element? {
        items.isEmpty ? nil : items[self.number(below: items.count)]
    }

    mutating func milliseconds(_ range: ClosedRange<Int>) -> Duration {
        .milliseconds(range.lowerBound + self.number(below: range.count))
    }

    mutating func addPool(_ configuration: PoolConfiguration, server: ServerID?) {
        guard let (pool, actions) = try? self.group.addPool(configuration, server: server, now: self.now) else {
            self.fail("addPool refused")
            return
        }
        self.limits[pool] = configuration.limits
        self.ceilings[pool] = configuration.limits.max
        self.waitingCeilings[pool] = configuration.limits.maxWaiting
        if let server { self.serverOf[pool] = server }
        self.apply(actions)
    }

    // MARK: Borrowers

    mutating func borrow() {
        guard let pool = self.pick(self.group.poolIDs) else { return }
        let caller = self.pick(Self.callers)!
        let key = self.chance(10) ? self.pick(["k1", "k2"]) : nil
        let wait: Duration = self.chance(5) ? .zero : self.milliseconds(100...4000)
        let ttl: Duration? = self.chance(50) ? nil : self.milliseconds(500...6000)
        let request = self.nextRequest
        self.nextRequest += 1
        self.note("borrow \(request) \(pool) caller \(caller) key \(key ?? "-") wait \(wait)")
        self.pending[request] = Request(pool: pool, caller: caller, key: key, arrival: request, deadline: self.now.advanced(by: wait))
        self.borrowing = request
        self.apply(self.group.borrow(request, pool: pool, caller: caller, key: key, ttl: ttl, wait: wait, now: self.now))
        self.borrowing = nil
    }

    mutating func release() {
        guard let lease = self.pick(self.leases.keys.sorted()), let entry = self.leases.removeValue(forKey: lease) else { return }
        self.leaseOf[entry.connection] = nil
        let roll = self.number(below: 100)
        let disposition: ReleaseDisposition = roll < 70 ? .clean : roll < 92 ? .needsReset : .broken
        self.note("release \(lease) \(disposition)")
        self.apply(self.group.release(lease, disposition, now: self.now))
    }

    mutating func cancel() {
        guard let request = self.pick(self.pending.keys.sorted()), let entry = self.pending[request] else { return }
        self.note("cancel \(request)")
        self.apply(self.group.cancelBorrow(request, pool: entry.pool, now: self.now))
        if self.pending[request] != nil { self.fail("cancelled request \(request) still waits") }
    }

    mutating func touch() {
        guard let lease = self.pick(self.leases.keys.sorted()) else { return }
        if self.chance(30) {
            let ttl: Duration? = self.chance(50) ? nil : self.milliseconds(200...5000)
            guard let renewal = self.group.renew(lease, ttl: ttl, now: self.now) else {
                self.fail("renew of live \(lease) failed")
                return
            }
            self.apply(renewal.actions)
        } else if self.group.leaseTouched(lease, running: self.chance(20), now: self.now) == nil {
            self.fail("touch of live \(lease) failed")
        }
    }

    // MARK: The runtime's I/O finishing

    mutating func completeOpen(serverDown: Bool) {
        guard let id = self.pick(self.connecting.sorted()) else { return }
        self.connecting.remove(id)
        self.note("connect of \(id) finishes")
        if !serverDown && self.chance(85) {
            self.established.insert(id)
            self.apply(self.group.connectionOpened(id, Int(id.serial), now: self.now))
        } else {
            let actions = self.group.connectFailed(id, error: "could not connect (step \(self.step))", now: self.now)
            let retries = actions.contains(.schedule(PoolTimer(kind: .connectBackoff(id), delay: .zero)))
                || actions.contains { if case .schedule(let timer) = $0, timer.kind == .connectBackoff(id) { return true } else { return false } }
            if retries {
                self.backingOff.insert(id)
            } else {
                self.forget(id)
            }
            self.apply(actions)
        }
    }

    mutating func completeReset() {
        guard let id = self.pick(self.resetting.sorted()) else { return }
        self.resetting.remove(id)
        self.note("reset of \(id) finishes")
        let actions = self.chance(90)
            ? self.group.resetSucceeded(id, now: self.now) : self.group.resetFailed(id, now: self.now)
        self.apply(actions)
    }

    mutating func completeCheck() {
        guard let id = self.pick(self.checking.sorted()) else { return }
        self.checking.remove(id)
        self.note("check of \(id) finishes")
        let actions = self.chance(85)
            ? self.group.checkSucceeded(id, now: self.now) : self.group.checkFailed(id, now: self.now)
        self.apply(actions)
    }

    mutating func completeClose() {
        guard let id = self.pick(self.closing.sorted()) else { return }
        self.forget(id)
        self.note("close of \(id) finishes")
        self.apply(self.group.connectionClosed(id, now: self.now))
    }

    mutating func loseConnection() {
        guard let id = self.pick(self.established.subtracting(self.closing).sorted()) else { return }
        self.note("lost \(id)")
        self.apply(self.group.connectionLost(id, now: self.now))
    }

    /// Moves the clock and fires every due timer in deadline order, as the runtime's scheduler would.
    mutating func advance(by duration: Duration) {
        let target = self.now.advanced(by: duration)
        while true {
            var next: (kind: PoolTimerKind, deadline: MockInstant, order: UInt64)?
            for (kind, timer) in self.timers where timer.deadline <= target {
                if let best = next, (best.deadline, best.order) < (timer.deadline, timer.order) { continue }
                next = (kind, timer.deadline, timer.order)
            }
            guard let (kind, deadline, _) = next else { break }
            self.timers[kind] = nil
            self.now = max(self.now, deadline)
            self.note("timer \(kind)")
            let actions = self.group.timerFired(kind, now: self.now)
            if case .connectBackoff(let id) = kind, self.backingOff.contains(id) {
                let retried = actions.contains { if case .open(id, _, _) = $0 { return true } else { return false } }
                if !retried {
                    self.forget(id)
                }
            }
            self.apply(actions)
        }
        self.now = target
    }

    // MARK: Operators

    mutating func resize() {
        guard let pool = self.pick(self.group.poolIDs), self.group.status(pool)?.state != .draining else { return }
        let max = 1 + self.number(below: 5)
        let limits = PoolLimits(
            min: self.number(below: Swift.min(max, 3) + 1), max: max, maxPerCaller: 1 + self.number(below: 4),
            maxWaiting: self.chance(50) ? nil : 1 + self.number(below: 8)
        )
        let total = self.connections(of: pool)
        let waiting = self.pending.values.filter { $0.pool == pool }.count
        self.limits[pool] = limits
        self.ceilings[pool] = Swift.max(limits.max, Swift.min(self.ceilings[pool] ?? limits.max, total))
        self.waitingCeilings[pool] = Swift.max(limits.maxWaiting, Swift.min(self.waitingCeilings[pool] ?? limits.maxWaiting, waiting))
        self.note("resize \(pool) \(limits)")
        self.apply(self.group.resize(pool, limits: limits, now: self.now))
    }

    mutating func recycle() {
        guard let pool = self.pick(self.group.poolIDs) else { return }
        let olderThan: Duration? = self.chance(50) ? nil : self.milliseconds(0...10000)
        self.note("recycle \(pool)")
        let (_, actions) = self.group.recycle(pool, mode: self.chance(50) ? .graceful : .immediate, olderThan: olderThan, now: self.now)
        self.apply(actions)
    }

    mutating func togglePause() {
        guard let pool = self.pick(self.group.poolIDs), let status = self.group.status(pool) else { return }
        self.note(status.paused ? "resume \(pool)" : "pause \(pool)")
        self.apply(status.paused ? self.group.resume(pool, now: self.now) : self.group.pause(pool, now: self.now))
    }

    /// An operator revokes one lease (by its token prefix): its caller may take another.
    mutating func revokeOne() {
        guard let lease = self.pick(self.leases.keys.sorted()) else { return }
        let roll = self.number(below: 100)
        let disposition: ReleaseDisposition = roll < 45 ? .clean : roll < 90 ? .needsReset : .broken
        self.note("revoke \(lease) \(disposition)")
        self.apply(self.group.revoke(lease, disposition, now: self.now))
        if self.leases[lease] != nil { self.fail("revoked \(lease) is still held") }
    }

    mutating func deletePool() {
        guard let pool = self.pick(self.group.poolIDs), self.group.status(pool)?.state != .draining else { return }
        self.note("delete \(pool)")
        self.apply(self.group.deletePool(pool, revokeLeases: self.chance(50), now: self.now))
    }

    mutating func changeServerLimit(_ server: ServerID) {
        let limit = 3 + self.number(below: 5)
        let used = self.connections(on: server)
        self.serverLimit[server] = limit
        self.serverCeiling[server] = Swift.max(limit, Swift.min(self.serverCeiling[server] ?? limit, used))
        self.note("server limit \(limit)")
        self.apply(self.group.setServerLimit(server, maxConnections: limit, now: self.now))
    }
}
