/// What the runtime knows about a connection when its lease is released, from libpq's
/// `PQtransactionStatus` and `PQstatus` and the pool's reset rule.
public enum ReleaseDisposition: Hashable, Sendable {
    /// Idle, no transaction open, and nothing of the caller's session left: the connection can be
    /// reused as it is.
    case clean
    /// A transaction is open or aborted, or the session holds the caller's state: it must be reset
    /// before anyone else gets the connection (invariants 3 and 7).
    case needsReset
    /// The connection is unusable: it is closed and replaced up to `min`.
    case broken
}
