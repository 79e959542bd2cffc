extension PoolGroup {
    /// A caller's idempotency key: the same caller and key get the same live lease.
    @usableFromInline
    struct LeaseKey: Hashable {
        @usableFromInline var caller: Types.Caller
        @usableFromInline var key: String

        @inlinable
        init(caller: Types.Caller, key: String) {
            self.caller = caller
            self.key = key
        }
    }
}

extension PoolGroup.LeaseKey: Sendable where Types.Caller: Sendable {}
