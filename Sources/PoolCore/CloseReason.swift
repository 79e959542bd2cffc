/// Why the core asks the runtime to close a connection; for logs and metrics.
public enum CloseReason: Hashable, Sendable {
    /// Released as broken.
    case broken
    /// A rollback after release or expiry failed, so the connection cannot be trusted again.
    case resetFailed
    /// The health check before handing it out failed.
    case checkFailed
    /// Idle longer than `idle_timeout` while the pool was above `min`.
    case idleTimeout
    /// Older than its (jittered) `max_lifetime`.
    case maxLifetime
    /// Retired by a recycle.
    case recycled
    /// Closed to make room for another pool on the same server.
    case evicted
    /// Above the pool's `max` after a resize.
    case surplus
    /// Above the server's budget after it was lowered.
    case serverLimit
    /// The runtime reported it dead.
    case lost
    /// Its pool is being deleted.
    case deleted
    /// The group is shutting down.
    case shutdown
    /// It no longer holds a global slot (its replica lost the coordination session, or the cap
    /// shrank below the slot it held).
    case slotLost
    /// Given back so that another replica, whose borrows wait with fewer connections, gets the
    /// global slot.
    case rebalanced
}
