extension PoolGroup.Pool {
    /// How a borrow fared on the fast path.
    @usableFromInline
    enum FastBorrow {
        case granted
        /// Not served from an idle connection (or its caller is at its quota); the caller's load
        /// is untouched.
        case mustWait
    }
}
