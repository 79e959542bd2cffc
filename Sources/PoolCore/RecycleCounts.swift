/// The answer to a recycle: `{closed, deferred, revoked}`.
public struct RecycleCounts: Hashable, Sendable {
    /// Connections closed now (they were idle).
    public var closed: Int
    /// Connections that close as soon as they are released, checked, reset or opened.
    public var deferred: Int
    /// Leases revoked by an immediate recycle; their connections close now.
    public var revoked: Int

    public init(closed: Int = 0, deferred: Int = 0, revoked: Int = 0) {
        self.closed = closed
        self.deferred = deferred
        self.revoked = revoked
    }
}
