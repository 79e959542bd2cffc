/// Whether one pool can serve, as `/readyz` reports it.
public struct PoolReadiness: Sendable, Equatable {
    public var pool: String
    public var ready: Bool
    /// Why not, with the last connect error (password redacted); nil when ready.
    public var reason: String?

    public init(pool: String, ready: Bool, reason: String?) {
        self.pool = pool
        self.ready = ready
        self.reason = reason
    }
}
