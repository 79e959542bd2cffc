/// The state a pool's status reports: `running`, `paused`, `degraded` or `draining`.
public enum PoolState: String, Hashable, Sendable {
    case running
    /// Borrows wait; leases go on.
    case paused
    /// Connects keep failing: borrows that find no idle connection fail fast with `connect_failed`.
    case degraded
    /// Being deleted: borrows are refused and connections close.
    case draining
}
