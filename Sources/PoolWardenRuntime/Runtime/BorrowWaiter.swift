/// A borrow between its request to PoolCore and its answer.
///
/// The answer can come in the same locked step as the request (served from an idle connection),
/// before the borrowing task has parked its continuation, or after; `phase` covers all three.
struct BorrowWaiter: Sendable {
    enum Phase: Sendable {
        /// Asked, not answered, no continuation parked yet.
        case pending
        case waiting(CheckedContinuation<Result<BorrowGrant, WardenError>, Never>)
        /// Answered before a continuation was parked.
        case done(Result<BorrowGrant, WardenError>)
    }

    let poolName: String
    let caller: String
    /// The token the lease gets if this borrow creates one; made before the lock is taken so the
    /// CSPRNG is not read under it.
    let token: String
    /// The wait in force (the request's or the pool's, capped).
    let wait: Duration
    /// Whether the lease names its holder in application_name (when the pool tags at all). A
    /// single-shot query does not: the tag and its reset would be two round trips for one statement.
    var tagging = true
    let startedAt: ContinuousClock.Instant
    var phase: Phase = .pending
}
