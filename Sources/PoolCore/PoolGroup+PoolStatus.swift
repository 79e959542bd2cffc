extension PoolGroup {
    /// What `GET /v1/pools/{pool}` shows, as of one instant.
    public struct PoolStatus {
        public var pool: PoolID
        public var server: ServerID?
        public var state: PoolState
        public var paused: Bool
        public var degraded: Bool
        public var configuration: PoolConfiguration
        public var counts: PoolCounts
        public var totals: PoolTotals
        /// The last connect error; kept after recovery so operators can see what happened.
        public var lastError: String?
        public var consecutiveConnectFailures: Int
        /// Bumped by every recycle; each row says which generation its connection belongs to.
        public var generation: UInt64
        /// One row per connection, oldest first.
        public var connections: [ConnectionRow]

        public var limits: PoolLimits { self.configuration.limits }
    }
}

extension PoolGroup.PoolStatus: Sendable where Types.Connection: Sendable, Types.Caller: Sendable {}
