import DequeModule

extension PoolGroup {
    /// Takes a free slot (or a new one) for a connect attempt and counts it against the pool and
    /// its server.
    @usableFromInline
    mutating func startOpen(_ pool: Int, probe: Bool, now: Duration, into actions: inout PoolActions) {
        let slot: Int
        if let free = self.pools[pool].freeSlots.popLast() {
            slot = free
        } else {
            slot = self.pools[pool].slots.count
            self.pools[pool].slots.append(Slot())
            self.pools[pool].handles.append(nil)
            self.pools[pool].holders.append(nil)
        }
        let serial = self.nextConnectionSerial
        self.nextConnectionSerial += 1
        self.pools[pool].slots[slot].serial = serial
        self.pools[pool].slots[slot].attempt = 1
        self.pools[pool].slots[slot].probe = probe
        self.pools[pool].slots[slot].generation = self.pools[pool].generation
        self.pools[pool].slots[slot].createdAt = now
        self.pools[pool].slots[slot].lastUsedAt = now
        self.setPhase(pool, slot, .opening)
        if let server = self.pools[pool].server {
            self.servers[server].total += 1
        }
        self.pools[pool].totals.connectAttempts += 1
        actions.append(.open(self.connectionID(pool, slot), pool: self.poolID(pool), attempt: 1))
    }

    /// Returns a slot whose connection is gone (closed, or never opened) to the free list.
    @usableFromInline
    mutating func freeSlot(_ pool: Int, _ slot: Int) {
        let phase = self.pools[pool].slots[slot].phase
        if phase == .idle, let index = self.pools[pool].idle.firstIndex(of: slot) {
            self.pools[pool].idle.remove(at: index)
        }
        self.pools[pool].counts[phase] -= 1
        self.pools[pool].slots[slot] = Slot()
        self.pools[pool].handles[slot] = nil
        self.pools[pool].holders[slot] = nil
        self.pools[pool].freeSlots.append(slot)
        if let server = self.pools[pool].server {
            self.servers[server].total -= 1
        }
    }

    /// Asks the runtime to close the connection in `slot`. It keeps counting against the limits
    /// until ``connectionClosed(_:now:)``: the server still has it until then.
    @usableFromInline
    mutating func closeSlot(_ pool: Int, _ slot: Int, _ reason: CloseReason, into actions: inout PoolActions) {
        precondition(self.pools[pool].slots[slot].lease == nil, "revoke or release a lease before closing its connection")
        if self.pools[pool].slots[slot].phase == .idle, let index = self.pools[pool].idle.firstIndex(of: slot) {
            self.pools[pool].idle.remove(at: index)
        }
        self.setPhase(pool, slot, .closing)
        self.pools[pool].slots[slot].retire = nil
        self.pools[pool].totals.closed += 1
        switch reason {
        case .recycled: self.pools[pool].totals.recycled += 1
        case .evicted: self.pools[pool].totals.evicted += 1
        default: break
        }
        actions.append(.close(self.connectionID(pool, slot), reason))
    }

    /// A connection is ready for use again (opened, released clean, reset or checked): close it if it
    /// must go, else hand it to the longest waiter whose caller is under its quota, else to a pool on the same server that waits for
    /// room, else park it idle.
    @usableFromInline
    mutating func makeAvailable(_ pool: Int, _ slot: Int, now: Duration, into actions: inout PoolActions) {
        if !self.pools[pool].isRunning || self.shuttingDown {
            self.closeSlot(pool, slot, self.drainReason, into: &actions)
            return
        }
        if let reason = self.retireReason(pool, slot, now: now) {
            self.closeSlot(pool, slot, reason, into: &actions)
            self.provision(pool, now: now, into: &actions)
            return
        }
        if self.pools[pool].counts.kept > self.pools[pool].limits.max {
            self.closeSlot(pool, slot, .surplus, into: &actions)
            return
        }
        if let server = self.pools[pool].server, self.servers[server].total > self.servers[server].limit,
            self.keptOnServer(server) > self.servers[server].limit
        {
            self.closeSlot(pool, slot, .serverLimit, into: &actions)
            return
        }
        if !self.pools[pool].paused, !self.pools[pool].waiters.isEmpty,
            self.handToWaiter(pool, slot, now: now, into: &actions)
        {
            return
        }
        if let server = self.pools[pool].server, self.servers[server].isFull,
            self.yieldToOtherPool(pool, slot, server: server, into: &actions)
        {
            return
        }
        self.pools[pool].makeIdle(slot, now: now, into: &actions)
    }

    /// Leases the connection to the longest-waiting borrow whose caller may take another lease.
    @usableFromInline
    mutating func handToWaiter(_ pool: Int, _ slot: Int, now: Duration, into actions: inout PoolActions) -> Bool {
        guard let next = self.nextServable(pool, now: now, into: &actions) else { return false }
        _ = self.pools[pool].waiters.remove(next.request)
        self.grant(
            next.request, pool: pool, slot: slot, caller: next.caller, key: next.key, ttl: next.ttl,
            fromQueue: true, now: now, into: &actions
        )
        return true
    }

    /// On a full server, a connection nobody in its own pool waits for is closed to make room for
    /// another pool's waiters, unless that would take its pool below `min`.
    @usableFromInline
    mutating func yieldToOtherPool(_ pool: Int, _ slot: Int, server: Int, into actions: inout PoolActions) -> Bool {
        guard self.pools[pool].counts.kept > self.pools[pool].limits.min,
            let needy = self.neediestPool(onServer: server, excluding: pool)
        else { return false }
        self.closeSlot(pool, slot, .evicted, into: &actions)
        self.pools[pool].slots[slot].evictedFor = self.poolID(needy)
        self.pools[needy].pendingEvictions += 1
        return true
    }
}
