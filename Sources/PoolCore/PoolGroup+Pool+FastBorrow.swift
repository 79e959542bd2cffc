extension PoolGroup.Pool {
    /// How a borrow fared on the fast path.
    @usableFromInline
    enum FastBorrow {
        case granted
        case overQuota
        /// Not served from an idle connection; the caller's load is untouched.
        case mustWait
    }
}
