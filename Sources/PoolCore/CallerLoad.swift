/// What one caller holds in one pool: leases, which `max_per_caller` limits, and borrows still
/// waiting, which it does not: a caller at its quota queues, and the waiters it may still be given
/// leases for are the pool's demand (``PoolGroup/Pool/servableWaiters``).
@usableFromInline
struct CallerLoad: Hashable, Sendable {
    @usableFromInline var leases = 0
    @usableFromInline var waiting = 0

    @inlinable
    init(leases: Int = 0, waiting: Int = 0) {
        self.leases = leases
        self.waiting = waiting
    }

    @inlinable
    var total: Int { self.leases + self.waiting }

    /// Of this caller's waiting borrows, how many a free connection could serve under `quota`.
    @inlinable
    func servable(quota: Int) -> Int {
        Swift.min(self.waiting, Swift.max(0, quota - self.leases))
    }

    @inlinable
    mutating func moveWaiterToLease() {
        self.waiting -= 1
        self.leases += 1
    }
}
