extension PoolGroup {
    /// A live lease as ``PoolGroup/lease(_:)`` reports it.
    public struct LeaseInfo {
        public var lease: LeaseID
        public var pool: PoolID
        public var connectionID: ConnectionID
        public var connection: Types.Connection
        public var caller: Types.Caller
        public var key: String?
        public var createdAt: Types.Instant
        public var expiresAt: Types.Instant
        public var ttl: Duration
        /// A statement is running on it.
        public var running: Bool
    }
}

extension PoolGroup.LeaseInfo: Sendable where Types.Connection: Sendable, Types.Caller: Sendable {}
