/// A borrow's answer: the lease and the connection it holds.
public struct LeaseGrant: Hashable, Sendable {
    public var request: UInt64
    public var pool: PoolID
    public var lease: LeaseID
    public var connectionID: ConnectionID
    /// The lease expires this long after the event that granted it, unless it is used or renewed.
    public var expiresIn: Duration
    /// True when an idempotent borrow (same caller and key) got its existing lease back.
    public var reused: Bool

    @inlinable
    public init(request: UInt64, pool: PoolID, lease: LeaseID, connectionID: ConnectionID, expiresIn: Duration, reused: Bool) {
        self.request = request
        self.pool = pool
        self.lease = lease
        self.connectionID = connectionID
        self.expiresIn = expiresIn
        self.reused = reused
    }
}
