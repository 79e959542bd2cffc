extension PoolGroup {
    /// A timer from ``PoolAction/schedule(_:)`` is due. Each kind is checked against the current
    /// state, so a timer that fires late, early, twice or after being cancelled does no harm.
    public mutating func timerFired(_ kind: PoolTimerKind, now: Instant) -> PoolActions {
        var actions = PoolActions()
        let now = self.ticks(now)
        switch kind {
        case .borrowDeadline(let id, let request):
            self.borrowDeadlinePassed(id, request, now: now, into: &actions)
        case .connectBackoff(let id):
            self.backoffEnded(id, now: now, into: &actions)
        case .idleTimeout(let id):
            self.idleTimerFired(id, now: now, into: &actions)
        case .maxLifetime(let id):
            self.lifetimeTimerFired(id, now: now, into: &actions)
        case .leaseExpiry(let id):
            self.leaseTimerFired(id, now: now, into: &actions)
        case .breakerProbe(let id):
            self.probeTimerFired(id, now: now, into: &actions)
        case .slotRetry(let id):
            if let pool = self.poolIndex(id), self.pools[pool].awaitingSlot {
                self.pools[pool].awaitingSlot = false
                self.capacityFreed(pool, now: now, into: &actions)
            }
        }
        return actions
    }

    @usableFromInline
    mutating func borrowDeadlinePassed(_ id: PoolID, _ request: UInt64, now: Duration, into actions: inout PoolActions) {
        guard let pool = self.poolIndex(id), let waiter = self.pools[pool].waiters.entries[request] else { return }
        guard waiter.deadline <= now else {
            actions.append(.schedule(PoolTimer(kind: .borrowDeadline(id, request: request), delay: waiter.deadline - now)))
            return
        }
        _ = self.pools[pool].waiters.remove(request)
        self.timeOut(pool, waiter, into: &actions)
    }

    /// Retries the connect if the pool still wants the connection, else gives the slot back.
    @usableFromInline
    mutating func backoffEnded(_ id: ConnectionID, now: Duration, into actions: inout PoolActions) {
        guard let (pool, slot) = self.slotIndex(id), self.pools[pool].slots[slot].phase == .backoff else { return }
        guard self.pools[pool].isRunning, !self.shuttingDown, !self.pools[pool].degraded else {
            self.abandonSlot(pool, slot, now: now, into: &actions)
            return
        }
        let counts = self.pools[pool].counts
        let limits = self.pools[pool].limits
        let othersOnTheirWay = counts.pendingSupply - 1 + self.pools[pool].pendingEvictions
        let wantedByWaiters = !self.pools[pool].paused && self.pools[pool].servableWaiters > othersOnTheirWay
        let wantedForMin = counts.kept <= limits.min
        guard wantedByWaiters || wantedForMin, counts.kept <= limits.max else {
            self.abandonSlot(pool, slot, now: now, into: &actions)
            return
        }
        self.pools[pool].slots[slot].attempt += 1
        self.setPhase(pool, slot, .opening)
        self.pools[pool].totals.connectAttempts += 1
        actions.append(.open(id, pool: self.poolID(pool), attempt: self.pools[pool].slots[slot].attempt))
    }

    /// Closes a connection idle for `idleTimeout` while the pool is above `min`; re-arms for one that
    /// was used since the timer was set.
    @usableFromInline
    mutating func idleTimerFired(_ id: ConnectionID, now: Duration, into actions: inout PoolActions) {
        guard let (pool, slot) = self.slotIndex(id) else { return }
        self.pools[pool].slots[slot].idleTimer = nil
        guard self.pools[pool].slots[slot].phase == .idle, let timeout = self.pools[pool].configuration.idleTimeout else {
            return
        }
        let deadline = self.pools[pool].slots[slot].lastUsedAt + timeout
        if deadline > now {
            self.pools[pool].slots[slot].idleTimer = deadline
            actions.append(.schedule(PoolTimer(kind: .idleTimeout(id), delay: deadline - now)))
        } else if self.pools[pool].counts.kept > self.pools[pool].limits.min {
            self.closeSlot(pool, slot, .idleTimeout, into: &actions)
        }
    }

    /// Closes an idle connection past its lifetime and replaces it up to `min`; one in use closes
    /// when it comes back.
    @usableFromInline
    mutating func lifetimeTimerFired(_ id: ConnectionID, now: Duration, into actions: inout PoolActions) {
        guard let (pool, slot) = self.slotIndex(id), let retiresAt = self.pools[pool].slots[slot].retiresAt else { return }
        guard retiresAt <= now else {
            actions.append(.schedule(PoolTimer(kind: .maxLifetime(id), delay: retiresAt - now)))
            return
        }
        guard self.pools[pool].slots[slot].phase == .idle else { return }
        self.closeSlot(pool, slot, .maxLifetime, into: &actions)
        self.provision(pool, now: now, into: &actions)
    }

    /// Revokes a lease idle past its ttl: the holder loses it, the connection is rolled back and
    /// returned (or closed if it must go anyway).
    @usableFromInline
    mutating func leaseTimerFired(_ id: ConnectionID, now: Duration, into actions: inout PoolActions) {
        guard let (pool, slot) = self.slotIndex(id) else { return }
        self.pools[pool].slots[slot].leaseTimer = nil
        guard self.pools[pool].slots[slot].phase == .leased, let record = self.pools[pool].slots[slot].lease else { return }
        if record.running {
            self.armLeaseTimer(pool, slot, at: now + record.ttl, now: now, into: &actions)
            return
        }
        if record.expiresAt > now {
            self.armLeaseTimer(pool, slot, at: record.expiresAt, now: now, into: &actions)
            return
        }
        self.revokeLease(pool, slot, .expired, into: &actions)
        self.pools[pool].slots[slot].lastUsedAt = now
        self.resetOrClose(pool, slot, now: now, into: &actions)
        self.serveAfterLeaseEnded(pool, now: now, into: &actions)
    }

    /// While degraded, tries one probe connect at a time; its success ends the degraded state.
    @usableFromInline
    mutating func probeTimerFired(_ id: PoolID, now: Duration, into actions: inout PoolActions) {
        guard let pool = self.poolIndex(id), self.pools[pool].isRunning, !self.shuttingDown else { return }
        self.pools[pool].probeScheduled = false
        guard self.pools[pool].degraded else { return }
        let counts = self.pools[pool].counts
        if counts.opening + counts.backoff > 0 || counts.total >= self.pools[pool].limits.max || self.serverIsFull(pool) {
            self.scheduleProbe(pool, into: &actions)
            return
        }
        self.startOpen(pool, probe: true, now: now, into: &actions)
    }
}
