import DequeModule

// The borrow and release hot paths run as mutating methods of the pool itself: called on an array
// element they get the element in place, where a computed property read through the array would
// copy the whole pool first.
extension PoolGroup.Pool {
    @inlinable
    var id: PoolID { PoolID(index: self.index, epoch: self.epoch) }

    @inlinable
    func connectionID(_ slot: Int) -> ConnectionID {
        ConnectionID(serial: self.slots[slot].serial, pool: self.index, slot: UInt32(truncatingIfNeeded: slot))
    }

    @inlinable
    func leaseID(_ slot: Int, serial: UInt64) -> LeaseID {
        LeaseID(serial: serial, pool: self.index, slot: UInt32(truncatingIfNeeded: slot))
    }

    @inlinable
    mutating func setPhase(_ slot: Int, _ phase: SlotPhase) {
        self.counts[self.slots[slot].phase] -= 1
        self.counts[phase] += 1
        self.slots[slot].phase = phase
    }

    /// Why a connection coming back must close instead of being reused, if it must.
    @inlinable
    func retireReason(_ slot: Int, now: Duration) -> CloseReason? {
        if let reason = self.slots[slot].retire { return reason }
        if let retiresAt = self.slots[slot].retiresAt, retiresAt <= now { return .maxLifetime }
        return nil
    }

    @inlinable
    func needsHealthCheck(_ slot: Int, now: Duration) -> Bool {
        guard let threshold = self.configuration.healthCheckAfter else { return false }
        return self.slots[slot].lastUsedAt + threshold < now
    }

    /// When nobody waits ahead, the caller holds fewer than `max_per_caller` leases and the most
    /// recently used idle connection can go out as it is, leases it.
    @inlinable
    mutating func borrowFast(
        _ request: UInt64,
        caller: Types.Caller,
        key: String?,
        ttl: Duration,
        now: Duration,
        leaseSerials: inout UInt64,
        into actions: inout PoolActions
    ) -> FastBorrow {
        let index = self.callers.index(forKey: caller)
        let leases = index.map { self.callers.values[$0].leases } ?? 0
        guard leases < self.configuration.limits.maxPerCaller, self.waiters.isEmpty, !self.paused, let slot = self.idle.last,
            self.retireReason(slot, now: now) == nil, !self.needsHealthCheck(slot, now: now)
        else { return .mustWait }
        self.idle.removeLast()
        if let index {
            self.callers.values[index].leases += 1
        } else {
            self.callers[caller] = CallerLoad(leases: 1)
        }
        self.takeLease(slot, request: request, caller: caller, key: key, ttl: ttl, fromQueue: false, now: now, leaseSerials: &leaseSerials, into: &actions)
        return .granted
    }

    /// Leases the connection in `slot` (already out of the idle list, caller load already counted).
    @inlinable
    mutating func takeLease(
        _ slot: Int,
        request: UInt64,
        caller: Types.Caller,
        key: String?,
        ttl: Duration,
        fromQueue: Bool,
        now: Duration,
        leaseSerials: inout UInt64,
        into actions: inout PoolActions
    ) {
        let serial = leaseSerials
        leaseSerials += 1
        self.setPhase(slot, .leased)
        self.slots[slot].lease = LeaseRecord(serial: serial, ttl: ttl, now: now)
        self.slots[slot].lastUsedAt = now
        self.holders[slot] = PoolGroup.LeaseHolder(caller: caller, key: key)
        self.totals.borrows += 1
        let connection = self.connectionID(slot)
        actions.append(
            .grant(
                LeaseGrant(
                    request: request, pool: self.id, lease: self.leaseID(slot, serial: serial),
                    connectionID: connection, expiresIn: ttl, reused: false
                )
            )
        )
        let expiresAt = now + ttl
        if let armed = self.slots[slot].leaseTimer, armed <= expiresAt {
            // The pending expiry timer fires first and re-arms itself for this lease.
        } else {
            self.slots[slot].leaseTimer = expiresAt
            actions.append(.schedule(PoolTimer(kind: .leaseExpiry(connection), delay: ttl)))
        }
        if fromQueue {
            actions.append(.cancel(.borrowDeadline(self.id, request: request)))
        }
    }

    /// Detaches the lease from its slot and from its caller's load and key.
    @inlinable
    mutating func endLease(_ slot: Int) {
        guard let serial = self.slots[slot].lease?.serial, let holder = self.holders[slot] else { return }
        self.slots[slot].lease = nil
        self.holders[slot] = nil
        if let index = self.callers.index(forKey: holder.caller) {
            self.callers.values[index].leases -= 1
            if self.callers.values[index].total <= 0 {
                self.callers.remove(at: index)
            }
        }
        if let key = holder.key {
            let leaseKey = PoolGroup.LeaseKey(caller: holder.caller, key: key)
            if self.keyed[leaseKey]?.serial == serial {
                self.keyed[leaseKey] = nil
            }
        }
    }

    /// Parks a connection that came back clean when nothing else wants it: the pool runs, the
    /// connection may stay, nobody waits and (the caller checked) no other pool needs the room.
    /// False leaves the decision to the full path.
    @inlinable
    mutating func parkQuietly(_ slot: Int, now: Duration, into actions: inout PoolActions) -> Bool {
        guard case .running = self.lifecycle, self.waiters.isEmpty || self.paused,
            self.retireReason(slot, now: now) == nil,
            self.counts.kept <= self.configuration.limits.max
        else { return false }
        self.makeIdle(slot, now: now, into: &actions)
        return true
    }

    /// Parks a connection idle, most recently used last, and makes sure an idle-timeout timer covers it.
    @inlinable
    mutating func makeIdle(_ slot: Int, now: Duration, into actions: inout PoolActions) {
        self.setPhase(slot, .idle)
        self.idle.append(slot)
        guard let timeout = self.configuration.idleTimeout else { return }
        let deadline = self.slots[slot].lastUsedAt + timeout
        if let armed = self.slots[slot].idleTimer, armed <= deadline { return }
        self.slots[slot].idleTimer = deadline
        actions.append(.schedule(PoolTimer(kind: .idleTimeout(self.connectionID(slot)), delay: deadline - now)))
    }
}
