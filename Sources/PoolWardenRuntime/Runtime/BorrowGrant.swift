import PoolCore

/// A lease handed to a borrow, before the borrow returns it.
struct BorrowGrant: Sendable {
    let token: String
    let lease: LeaseID
    let connection: ServerConnection
    /// False when an idempotency key found the caller's existing lease.
    let created: Bool
    /// The application_name tag still has to be set (the lease is marked busy until then).
    let needsTag: Bool
    /// The wait the borrow was granted under, for a retry when the connection proves dead.
    let wait: Duration
    let view: LeaseView
    let metrics: WardenMetrics
}
