import DequeModule

/// Every pool of the service and the server budgets they share, as one pure state machine.
///
/// Events go in as method calls that carry the current instant; each returns the ``PoolActions``
/// the runtime must start: open, reset, check or close a connection, answer a borrow, revoke a
/// lease, schedule or cancel a timer. The group reads no clock, does no I/O and holds no lock: the
/// runtime keeps one value behind one lock and feeds it events, so cross-pool decisions (a server
/// budget shared by several pools) are made atomically.
///
/// Rules it keeps (DESIGN.md invariants 1, 2, 3, 5 and 6):
/// - a pool never has more than `max` connections counting those being opened or closed, a server
///   never more than its budget, and a caller never more than `max_per_caller` leases in a pool
///   (its further borrows wait), nor a pool more than `max_waiting` waiting borrows;
/// - every connection is in exactly one state: opening, idle (possibly being checked), leased to
///   exactly one lease, being reset, or closing;
/// - a connection that comes back inside a transaction is reset before reuse, and closed if the
///   reset fails;
/// - after a delete or a shutdown, no connection of the pool is left;
/// - borrows are served first come, first served within a pool, passing over only those whose
///   caller holds its quota, and leave the queue when they time out or are cancelled, without
///   taking a connection with them.
public struct PoolGroup<Types: PoolTypes> {
    public typealias Instant = Types.Instant

    @usableFromInline var pools: [Pool]
    @usableFromInline var freePoolIndexes: [Int]
    @usableFromInline var servers: [Server]
    @usableFromInline var nextConnectionSerial: UInt64
    @usableFromInline var nextLeaseSerial: UInt64
    @usableFromInline var nextWaiterSequence: UInt64
    @usableFromInline var random: Types.Random
    @usableFromInline var shuttingDown: Bool
    @usableFromInline var shutDown: Bool
    @usableFromInline let origin: InstantOrigin<Types.Instant>

    /// - Parameters:
    ///   - now: the current instant; times are counted from it.
    ///   - random: the jitter source for connect backoff and connection lifetimes.
    public init(now: Instant, random: Types.Random) {
        self.pools = []
        self.freePoolIndexes = []
        self.servers = []
        self.nextConnectionSerial = 1
        self.nextLeaseSerial = 1
        self.nextWaiterSequence = 1
        self.random = random
        self.shuttingDown = false
        self.shutDown = false
        self.origin = InstantOrigin(now)
    }

    /// The runtime's handle of an open connection, or nil while it is being opened or once it is closed.
    @inlinable
    public func connection(_ id: ConnectionID) -> Types.Connection? {
        guard let (pool, slot) = self.slotIndex(id) else { return nil }
        return self.pools[pool].handles[slot]
    }

    // MARK: Time

    @inlinable
    func ticks(_ now: Instant) -> Duration {
        self.origin.ticks(now)
    }

    @inlinable
    func instant(_ ticks: Duration) -> Instant {
        self.origin.instant(ticks)
    }

    // MARK: Lookups

    @inlinable
    func poolIndex(_ id: PoolID) -> Int? {
        let index = Int(id.index)
        guard index < self.pools.count, self.pools[index].epoch == id.epoch else { return nil }
        if case .gone = self.pools[index].lifecycle { return nil }
        return index
    }

    @inlinable
    func poolID(_ pool: Int) -> PoolID {
        PoolID(index: UInt32(truncatingIfNeeded: pool), epoch: self.pools[pool].epoch)
    }

    @inlinable
    func connectionID(_ pool: Int, _ slot: Int) -> ConnectionID {
        ConnectionID(
            serial: self.pools[pool].slots[slot].serial,
            pool: UInt32(truncatingIfNeeded: pool),
            slot: UInt32(truncatingIfNeeded: slot)
        )
    }

    @inlinable
    func leaseID(_ pool: Int, _ slot: Int, serial: UInt64) -> LeaseID {
        LeaseID(serial: serial, pool: UInt32(truncatingIfNeeded: pool), slot: UInt32(truncatingIfNeeded: slot))
    }

    /// The live slot of a connection, or nil when the id is stale.
    @inlinable
    func slotIndex(_ id: ConnectionID) -> (pool: Int, slot: Int)? {
        let pool = Int(id.pool)
        let slot = Int(id.slot)
        guard pool < self.pools.count, slot < self.pools[pool].slots.count else { return nil }
        guard self.pools[pool].slots[slot].serial == id.serial, self.pools[pool].slots[slot].phase != .free else {
            return nil
        }
        return (pool, slot)
    }

    /// The slot holding a live lease, or nil when the lease is unknown, released or revoked.
    @inlinable
    func leaseSlot(_ id: LeaseID) -> (pool: Int, slot: Int)? {
        let pool = Int(id.pool)
        let slot = Int(id.slot)
        guard pool < self.pools.count, slot < self.pools[pool].slots.count else { return nil }
        guard self.pools[pool].slots[slot].phase == .leased,
            self.pools[pool].slots[slot].lease?.serial == id.serial
        else { return nil }
        return (pool, slot)
    }

    // MARK: Slot bookkeeping

    @inlinable
    mutating func setPhase(_ pool: Int, _ slot: Int, _ phase: SlotPhase) {
        self.pools[pool].setPhase(slot, phase)
    }

    /// Why a connection coming back must close instead of being reused, if it must.
    @inlinable
    func retireReason(_ pool: Int, _ slot: Int, now: Duration) -> CloseReason? {
        if let reason = self.pools[pool].slots[slot].retire { return reason }
        if let retiresAt = self.pools[pool].slots[slot].retiresAt, retiresAt <= now { return .maxLifetime }
        return nil
    }

    @inlinable
    func needsHealthCheck(_ pool: Int, _ slot: Int, now: Duration) -> Bool {
        guard let threshold = self.pools[pool].configuration.healthCheckAfter else { return false }
        return self.pools[pool].slots[slot].lastUsedAt + threshold < now
    }

    /// The close reason for connections of a pool that is going away.
    @inlinable
    var drainReason: CloseReason {
        self.shuttingDown ? .shutdown : .deleted
    }
}

extension PoolGroup: Sendable where Types.Connection: Sendable, Types.Caller: Sendable, Types.Random: Sendable {}
