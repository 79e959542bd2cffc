extension PoolGroup {
    /// A borrow waiting for a connection.
    @usableFromInline
    struct Waiter {
        @usableFromInline var request: UInt64
        /// Group-wide arrival order: FIFO within a pool, and which pool a freed server slot goes to.
        @usableFromInline var sequence: UInt64
        @usableFromInline var caller: Types.Caller
        @usableFromInline var key: String?
        @usableFromInline var ttl: Duration
        @usableFromInline var deadline: Duration

        @inlinable
        init(
            request: UInt64,
            sequence: UInt64,
            caller: Types.Caller,
            key: String?,
            ttl: Duration,
            deadline: Duration
        ) {
            self.request = request
            self.sequence = sequence
            self.caller = caller
            self.key = key
            self.ttl = ttl
            self.deadline = deadline
        }
    }
}

extension PoolGroup.Waiter: Sendable where Types.Caller: Sendable {}
