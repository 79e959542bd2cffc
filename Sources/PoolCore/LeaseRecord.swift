/// The timing of the lease a leased slot carries; who holds it is kept apart (see
/// `PoolGroup.Pool.holders`) so this stays a plain value that copies for free.
@usableFromInline
struct LeaseRecord: Hashable, Sendable {
    @usableFromInline var serial: UInt64
    @usableFromInline var ttl: Duration
    @usableFromInline var createdAt: Duration
    @usableFromInline var lastActivity: Duration
    /// A statement is running: the lease is in use however long ago it started.
    @usableFromInline var running: Bool
    /// False while the runtime still prepares the lease for its borrower (see
    /// `PoolGroup.deferHandover`): it is not counted as a borrow, nor as revoked if it ends so.
    @usableFromInline var handedOver: Bool

    @inlinable
    init(serial: UInt64, ttl: Duration, now: Duration) {
        self.serial = serial
        self.ttl = ttl
        self.createdAt = now
        self.lastActivity = now
        self.running = false
        self.handedOver = true
    }

    @inlinable
    var expiresAt: Duration { self.lastActivity + self.ttl }
}
