import Testing
@testable import PoolCore

/// Drives a ``TestGroup`` the way the runtime will: it keeps the mock clock, runs the timers the
/// group schedules (firing each one due when the clock moves), and records every action.
struct Harness {
    var group: TestGroup
    var now: MockInstant
    /// Pending timers by kind, with their absolute deadlines.
    var timers: [PoolTimerKind: MockInstant] = [:]
    var nextRequest: UInt64 = 1

    init(seed: UInt64 = 1) {
        self.now = MockInstant()
        self.group = TestGroup(now: self.now, random: SplitMix64(seed: seed))
    }

    /// Notes timer actions and returns the list for inspection.
    @discardableResult
    mutating func record(_ actions: PoolActions) -> [PoolAction] {
        for action in actions {
            switch action {
            case .schedule(let timer):
                self.timers[timer.kind] = timer.deadline(after: self.now)
            case .cancel(let kind):
                self.timers[kind] = nil
            default:
                break
            }
        }
        return Array(actions)
    }

    mutating func addPool(_ configuration: PoolConfiguration, server: ServerID? = nil) -> (PoolID, [PoolAction]) {
        let (pool, actions) = try! self.group.addPool(configuration, server: server, now: self.now)
        return (pool, self.record(actions))
    }

    /// Adds a pool and completes its first connects.
    mutating func addOpenPool(_ configuration: PoolConfiguration, server: ServerID? = nil) -> PoolID {
        let (pool, actions) = self.addPool(configuration, server: server)
        self.openAll(actions)
        return pool
    }

    /// Completes every `open` in `actions` successfully (the handle is the connection serial), and
    /// the opens those completions ask for, until none is left.
    @discardableResult
    mutating func openAll(_ actions: [PoolAction]) -> [PoolAction] {
        var produced: [PoolAction] = []
        var pending = actions.opens
        while let id = pending.first {
            pending.removeFirst()
            let more = self.opened(id)
            produced += more
            pending += more.opens
        }
        return produced
    }

    @discardableResult
    mutating func opened(_ id: ConnectionID) -> [PoolAction] {
        self.record(self.group.connectionOpened(id, Int(id.serial), now: self.now))
    }

    @discardableResult
    mutating func connectFailed(_ id: ConnectionID, _ error: String = "connection refused") -> [PoolAction] {
        self.record(self.group.connectFailed(id, error: error, now: self.now))
    }

    @discardableResult
    mutating func closed(_ id: ConnectionID) -> [PoolAction] {
        self.record(self.group.connectionClosed(id, now: self.now))
    }

    /// Completes every `close` in `actions`.
    @discardableResult
    mutating func closeAll(_ actions: [PoolAction]) -> [PoolAction] {
        var produced: [PoolAction] = []
        for id in actions.closes.map(\.0) {
            produced += self.closed(id)
        }
        return produced
    }

    mutating func borrow(
        _ pool: PoolID,
        caller: String = "app",
        key: String? = nil,
        ttl: Duration? = nil,
        wait: Duration? = nil,
        request: UInt64? = nil
    ) -> (request: UInt64, actions: [PoolAction]) {
        let id = request ?? self.nextRequest
        self.nextRequest = max(self.nextRequest, id) + 1
        let actions = self.group.borrow(id, pool: pool, caller: caller, key: key, ttl: ttl, wait: wait, now: self.now)
        return (id, self.record(actions))
    }

    /// Borrows and expects an immediate lease.
    mutating func lease(_ pool: PoolID, caller: String = "app", key: String? = nil, ttl: Duration? = nil) -> LeaseGrant {
        let (_, actions) = self.borrow(pool, caller: caller, key: key, ttl: ttl)
        guard let grant = actions.grants.first else {
            Issue.record("expected a lease, got \(actions)")
            let nothing = ConnectionID(serial: 0, pool: 0, slot: 0)
            return LeaseGrant(
                request: 0, pool: pool, lease: LeaseID(serial: 0, pool: 0, slot: 0), connectionID: nothing,
                expiresIn: .zero, reused: false
            )
        }
        return grant
    }

    @discardableResult
    mutating func release(_ grant: LeaseGrant, _ disposition: ReleaseDisposition = .clean) -> [PoolAction] {
        self.record(self.group.release(grant.lease, disposition, now: self.now))
    }

    @discardableResult
    mutating func cancel(_ request: UInt64, pool: PoolID) -> [PoolAction] {
        self.record(self.group.cancelBorrow(request, pool: pool, now: self.now))
    }

    /// Moves the clock and fires every timer that falls due, earliest first, including timers those
    /// firings schedule.
    @discardableResult
    mutating func advance(by duration: Duration) -> [PoolAction] {
        let target = self.now.advanced(by: duration)
        var produced: [PoolAction] = []
        while let (kind, deadline) = self.timers.filter({ $0.value <= target }).min(by: { $0.value < $1.value }) {
            self.now = max(self.now, deadline)
            self.timers[kind] = nil
            produced += self.record(self.group.timerFired(kind, now: self.now))
        }
        self.now = target
        return produced
    }

    func status(_ pool: PoolID) -> TestGroup.PoolStatus {
        self.group.status(pool)!
    }

    func violations() -> [String] {
        self.group.invariantViolations()
    }
}
