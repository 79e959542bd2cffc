/// Running totals of one pool since it was added.
public struct PoolTotals: Hashable, Sendable {
    /// Leases granted (an idempotent borrow that got an existing lease back is not counted).
    public var borrows: Int = 0
    /// Borrows that waited until their deadline, paused, at their caller's quota or held back by
    /// a full server budget included (connect failures are counted apart).
    public var timeouts: Int = 0
    /// Connect attempts started, retries included.
    public var connectAttempts: Int = 0
    public var connectFailures: Int = 0
    /// Leases revoked because they were idle past their ttl.
    public var expired: Int = 0
    /// Leases revoked by an immediate recycle, a delete or a shutdown.
    public var revoked: Int = 0
    /// Connections closed because a recycle retired them.
    public var recycled: Int = 0
    /// Connections closed for any reason.
    public var closed: Int = 0
    /// Borrows whose caller went away while waiting.
    public var cancelled: Int = 0
    /// Borrows refused because `max_waiting` others already waited.
    public var waitingRejections: Int = 0
    /// Borrows failed with `connect_failed`.
    public var connectFailedRejections: Int = 0
    public var healthCheckFailures: Int = 0
    /// Connections closed to make room for another pool on the same server.
    public var evicted: Int = 0

    public init() {}
}
