extension PoolStatusView {
    /// Connections by state, and waiting borrows.
    public struct Counts: Sendable, Equatable {
        /// Established server connections: idle, leased, being checked, reset or closed.
        public var open: Int
        public var idle: Int
        public var leased: Int
        /// Being opened, including those waiting to retry.
        public var opening: Int
        /// Borrows waiting for a connection.
        public var waiting: Int

        public init(open: Int = 0, idle: Int = 0, leased: Int = 0, opening: Int = 0, waiting: Int = 0) {
            self.open = open
            self.idle = idle
            self.leased = leased
            self.opening = opening
            self.waiting = waiting
        }
    }
}
