/// How a recycle treats leased connections (`mode` of `POST /v1/pools/{pool}/recycle`).
public enum RecycleMode: String, Sendable, Equatable, CaseIterable {
    /// Idle connections close now, leased ones when they are released.
    case graceful
    /// Leased connections close now too: their leases are revoked, their work rolled back, and
    /// their tokens answer 410.
    case immediate
}
