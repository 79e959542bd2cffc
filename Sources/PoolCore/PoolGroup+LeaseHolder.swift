extension PoolGroup {
    /// Who holds a lease, and under which idempotency key.
    @usableFromInline
    struct LeaseHolder {
        @usableFromInline var caller: Types.Caller
        @usableFromInline var key: String?

        @inlinable
        init(caller: Types.Caller, key: String?) {
            self.caller = caller
            self.key = key
        }
    }
}

extension PoolGroup.LeaseHolder: Sendable where Types.Caller: Sendable {}
