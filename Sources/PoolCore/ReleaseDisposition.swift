/// What the runtime knows about a connection when its lease is released, from libpq's
/// `PQtransactionStatus` and `PQstatus`.
public enum ReleaseDisposition: Hashable, Sendable {
    /// Idle, no transaction open: the connection can be reused as it is.
    case clean
    /// A transaction is open or aborted: it must be rolled back before anyone else gets the
    /// connection (invariant 3).
    case inTransaction
    /// The connection is unusable: it is closed and replaced up to `min`.
    case broken
}
