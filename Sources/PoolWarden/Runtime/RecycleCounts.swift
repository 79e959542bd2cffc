/// The answer to a recycle: `{closed, deferred, revoked}`.
public struct RecycleCounts: Sendable, Equatable {
    /// Idle connections closed now.
    public var closed: Int
    /// Connections that close as soon as they come back (leased, or being opened, checked or reset).
    public var deferred: Int
    /// Leases revoked by an immediate recycle.
    public var revoked: Int

    public init(closed: Int = 0, deferred: Int = 0, revoked: Int = 0) {
        self.closed = closed
        self.deferred = deferred
        self.revoked = revoked
    }
}
