extension PoolGroup {
    /// One connection in a pool's status.
    public struct ConnectionRow {
        public var id: ConnectionID
        public var state: ConnectionState
        /// The runtime's handle (for the backend PID); nil while opening.
        public var connection: Types.Connection?
        /// When it was opened (when the connect started, while opening).
        public var createdAt: Types.Instant
        /// When it was last handed out, returned or checked.
        public var lastUsedAt: Types.Instant
        /// The holder, while leased.
        public var caller: Types.Caller?
        public var lease: LeaseID?
        public var leaseExpiresAt: Types.Instant?
        public var generation: UInt64
        /// The connect attempt in flight or last failed, from 1.
        public var attempt: Int
        /// Why it will close when it comes back, if it will.
        public var retiring: CloseReason?
    }
}

extension PoolGroup.ConnectionRow: Sendable where Types.Connection: Sendable, Types.Caller: Sendable {}
