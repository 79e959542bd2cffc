/// Why a borrow got no lease. Each case maps to one problem `code` of the API.
public enum BorrowFailure: Hashable, Sendable {
    /// Waited until its deadline: 503 `pool_exhausted` with Retry-After.
    case timeout
    /// Waited until its deadline while the pool was paused: 503 `pool_paused` with Retry-After.
    /// Idle connections do not make the pool exhausted; an operator holds the borrows back.
    case paused
    /// Waited until its deadline while its pool had room under `max` but the server budget it
    /// shares (`limit` connections, every pool on the server counted) was full: 503
    /// `server_budget_exhausted` with Retry-After. Saying `pool_exhausted` here would send the
    /// operator to a pool that shows free room.
    case serverBudgetExhausted(ServerID, limit: Int)
    /// Waited until its deadline while its caller still held `max_per_caller` leases, so that
    /// no free connection could have served it: `caller_quota`.
    case callerQuota
    /// `max_waiting` borrows already wait in the pool: `too_many_waiting`, at once.
    case tooManyWaiting
    /// The server cannot be reached: 502 `connect_failed` with the last connect error.
    case connectFailed(lastError: String?)
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
