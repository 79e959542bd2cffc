/// How a recycle treats connections that are leased.
public enum RecycleMode: Hashable, Sendable {
    /// Idle connections close now, leased ones when they are released.
    case graceful
    /// Leased connections close now too: their leases are revoked and their work rolled back.
    case immediate
}
