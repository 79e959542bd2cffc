extension PoolStatusView {
    /// Running totals since the pool was created.
    public struct Totals: Sendable, Equatable {
        /// Leases granted (an idempotent borrow that found its lease is not counted).
        public var borrows: Int
        /// Borrows that waited until their deadline.
        public var timeouts: Int
        /// Connect attempts, retries included.
        public var connectAttempts: Int
        public var connectFailures: Int
        /// Leases revoked for being idle past their TTL.
        public var expired: Int
        /// Leases revoked by an immediate recycle, a delete or a shutdown.
        public var revoked: Int
        /// Connections closed by a recycle.
        public var recycled: Int
        /// Connections closed for any reason.
        public var closed: Int

        public init(
            borrows: Int = 0,
            timeouts: Int = 0,
            connectAttempts: Int = 0,
            connectFailures: Int = 0,
            expired: Int = 0,
            revoked: Int = 0,
            recycled: Int = 0,
            closed: Int = 0
        ) {
            self.borrows = borrows
            self.timeouts = timeouts
            self.connectAttempts = connectAttempts
            self.connectFailures = connectFailures
            self.expired = expired
            self.revoked = revoked
            self.recycled = recycled
            self.closed = closed
        }
    }
}
