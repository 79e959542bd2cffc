/// Why a borrow got no lease. Each case maps to one problem `code` of the API.
public enum BorrowFailure: Hashable, Sendable {
    /// Waited until its deadline: 503 `pool_exhausted` with Retry-After.
    case timeout
    /// The server cannot be reached: 502 `connect_failed` with the last connect error.
    case connectFailed(lastError: String?)
    /// The caller already holds (or waits for) `max_per_caller` leases: `caller_quota`.
    case callerQuota
    /// The runtime cancelled the borrow because its HTTP client went away.
    case cancelled
    /// The pool is being deleted: `pool_not_found`.
    case poolDraining
    /// No pool has this id (any more): `pool_not_found`.
    case poolNotFound
    /// The group is shutting down.
    case shutdown
    /// The request id is already waiting in this pool.
    case duplicateRequest
}
