extension PoolGroup.Pool {
    /// Whether a pool serves borrows, is being deleted, or is gone.
    @usableFromInline
    enum Lifecycle: Hashable, Sendable {
        case running
        /// Being deleted; `revokeLeases` says whether leases were revoked or are waited for.
        case draining(revokeLeases: Bool)
        /// Deleted: the entry is free for the next pool.
        case gone
    }
}
