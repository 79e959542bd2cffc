/// One connection's place in its pool. Slots are reused after a close so the hot path indexes an
/// array instead of hashing; the serial tells a reused slot from its previous occupant.
///
/// Times are durations since the group's origin. The slot holds only plain values (the handle and
/// the lease holder live in parallel arrays of the pool), so reading one field never copies
/// anything that needs reference counting.
@usableFromInline
struct Slot: Hashable, Sendable {
    @usableFromInline var phase: SlotPhase
    @usableFromInline var serial: UInt64
    /// The connect attempt in flight or last failed, from 1.
    @usableFromInline var attempt: Int
    /// A single-attempt connect of a degraded pool.
    @usableFromInline var probe: Bool
    /// The pool's recycle generation when this connection was started.
    @usableFromInline var generation: UInt64
    /// When the connect started, then when it succeeded.
    @usableFromInline var createdAt: Duration
    /// When it was last handed out, returned or checked.
    @usableFromInline var lastUsedAt: Duration
    /// The jittered end of its `maxLifetime`.
    @usableFromInline var retiresAt: Duration?
    /// Set when it must close instead of being reused the next time it comes back.
    @usableFromInline var retire: CloseReason?
    @usableFromInline var lease: LeaseRecord?
    /// Deadline of the idle-timeout timer the runtime holds for this slot, if any.
    @usableFromInline var idleTimer: Duration?
    /// Deadline of the lease-expiry timer the runtime holds for this slot, if any.
    @usableFromInline var leaseTimer: Duration?
    /// The pool this connection is being closed to make room for.
    @usableFromInline var evictedFor: PoolID?

    @inlinable
    init() {
        self.phase = .free
        self.serial = 0
        self.attempt = 0
        self.probe = false
        self.generation = 0
        self.createdAt = .zero
        self.lastUsedAt = .zero
        self.retiresAt = nil
        self.retire = nil
        self.lease = nil
        self.idleTimer = nil
        self.leaseTimer = nil
        self.evictedFor = nil
    }
}
