/// What a timer is for, and its identity: scheduling a timer replaces the pending one of the same
/// kind. Timers are checked when they fire, so one that fires late, early, twice or after it was
/// cancelled does no harm.
public enum PoolTimerKind: Hashable, Sendable {
    /// The borrow `request` of the pool has waited as long as it may.
    case borrowDeadline(PoolID, request: UInt64)
    /// The backoff before the next connect attempt is over.
    case connectBackoff(ConnectionID)
    /// The connection may have been idle for `idleTimeout`.
    case idleTimeout(ConnectionID)
    /// The connection reached its jittered `maxLifetime`.
    case maxLifetime(ConnectionID)
    /// The lease on this connection may have been idle past its ttl.
    case leaseExpiry(ConnectionID)
    /// A degraded pool may try one probe connect.
    case breakerProbe(PoolID)
    /// A pool that found no global slot free may try again.
    case slotRetry(PoolID)
}
