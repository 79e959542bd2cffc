/// One database server's connection budget, shared by the pools on it.
@usableFromInline
struct Server: Sendable {
    @usableFromInline var limit: Int
    /// Slots of all its pools that are not free: the same count a pool's `max` uses.
    @usableFromInline var total: Int
    /// Indexes of the live pools on this server.
    @usableFromInline var pools: [Int]

    @inlinable
    init(limit: Int) {
        self.limit = limit
        self.total = 0
        self.pools = []
    }

    @inlinable
    var isFull: Bool { self.total >= self.limit }
}
