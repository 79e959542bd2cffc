/// What one caller holds in one pool: leases, and borrows still waiting (which count against
/// `max_per_caller` too, or they would push the caller over it once served).
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

    @inlinable
    mutating func moveWaiterToLease() {
        self.waiting -= 1
        self.leases += 1
    }
}
