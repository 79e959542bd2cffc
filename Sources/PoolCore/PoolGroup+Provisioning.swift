import DequeModule

extension PoolGroup {
    /// Opens connections for waiters no connection on its way will serve, then up to `min`.
    ///
    /// Opening respects the pool's `max` and its server's budget. When the server is full, waiters
    /// (not `min`) may make room: the longest-idle connection of another pool on the server that is
    /// above its `min` is closed, and the room is promised to this pool until the close completes.
    @usableFromInline
    mutating func provision(_ pool: Int, now: Duration, into actions: inout PoolActions) {
        guard self.pools[pool].isRunning, !self.shuttingDown, !self.pools[pool].degraded, !self.pools[pool].awaitingSlot else { return }
        var demand = self.pools[pool].unmetDemand
        while demand > 0, self.pools[pool].counts.total < self.pools[pool].limits.max {
            if let server = self.pools[pool].server, self.servers[server].isFull {
                guard self.evictIdle(onServer: server, for: pool, into: &actions) else { break }
                self.pools[pool].pendingEvictions += 1
            } else {
                self.startOpen(pool, probe: false, now: now, into: &actions)
            }
            demand -= 1
        }
        while self.pools[pool].counts.kept < self.pools[pool].limits.min,
            self.pools[pool].counts.total < self.pools[pool].limits.max,
            !self.serverIsFull(pool)
        {
            self.startOpen(pool, probe: false, now: now, into: &actions)
        }
    }

    @inlinable
    func serverIsFull(_ pool: Int) -> Bool {
        guard let server = self.pools[pool].server else { return false }
        return self.servers[server].total >= self.servers[server].limit
    }

    /// Room freed up in `pool` (and on its server): the pools on that server get it, the pool whose
    /// waiter arrived first before the others, then each pool for its `min`.
    @usableFromInline
    mutating func capacityFreed(_ pool: Int, now: Duration, into actions: inout PoolActions) {
        guard let server = self.pools[pool].server else {
            self.provision(pool, now: now, into: &actions)
            return
        }
        self.rebalance(server: server, now: now, into: &actions)
    }

    @usableFromInline
    mutating func rebalance(server: Int, now: Duration, into actions: inout PoolActions) {
        let members = self.servers[server].pools
        var needy: [(sequence: UInt64, pool: Int)] = []
        for member in members where self.pools[member].unmetDemand > 0 {
            if let head = self.pools[member].firstServable() {
                needy.append((head.sequence, member))
            }
        }
        needy.sort { $0.sequence < $1.sequence }
        for entry in needy {
            self.provision(entry.pool, now: now, into: &actions)
        }
        for member in members {
            self.provision(member, now: now, into: &actions)
        }
    }

    /// Closes the longest-idle connection of another pool on `server` that stays at or above its
    /// `min` without it, on behalf of `pool`. False when there is none.
    @usableFromInline
    mutating func evictIdle(onServer server: Int, for pool: Int, into actions: inout PoolActions) -> Bool {
        var best: (pool: Int, slot: Int, since: Duration)?
        for other in self.servers[server].pools where other != pool {
            guard self.pools[other].isRunning,
                self.pools[other].counts.kept > self.pools[other].limits.min,
                let slot = self.pools[other].idle.first
            else { continue }
            let since = self.pools[other].slots[slot].lastUsedAt
            if best == nil || since < best!.since {
                best = (other, slot, since)
            }
        }
        guard let best else { return false }
        self.closeSlot(best.pool, best.slot, .evicted, into: &actions)
        self.pools[best.pool].slots[best.slot].evictedFor = self.poolID(pool)
        return true
    }

    /// The pool on `server` (other than `pool`) whose unserved waiter has waited longest, if any.
    @usableFromInline
    mutating func neediestPool(onServer server: Int, excluding pool: Int) -> Int? {
        var best: (sequence: UInt64, pool: Int)?
        for other in self.servers[server].pools where other != pool && self.pools[other].unmetDemand > 0 {
            guard let head = self.pools[other].firstServable() else { continue }
            if best == nil || head.sequence < best!.sequence {
                best = (head.sequence, other)
            }
        }
        return best?.pool
    }

    /// Connections on `server` that are not already closing.
    @usableFromInline
    func keptOnServer(_ server: Int) -> Int {
        var kept = 0
        for member in self.servers[server].pools {
            kept += self.pools[member].counts.kept
        }
        return kept
    }

    /// The attempt budget of a connect is spent: the server is taken to be down. Pending retries
    /// stop and one probe connect at a time tests recovery; waiters keep waiting for it until their
    /// own deadlines (then they fail with the last connect error), so retries span their wait.
    @usableFromInline
    mutating func enterDegraded(_ pool: Int, into actions: inout PoolActions) {
        self.pools[pool].degraded = true
        for slot in self.pools[pool].slots.indices where self.pools[pool].slots[slot].phase == .backoff {
            actions.append(.cancel(.connectBackoff(self.connectionID(pool, slot))))
            self.freeSlot(pool, slot)
        }
        self.scheduleProbe(pool, into: &actions)
    }

    /// A borrow arrived at a degraded pool: rather than answer the last error, which may be
    /// stale, it tries the server now, one connect at a time and at most once per base delay.
    @usableFromInline
    mutating func probeForBorrow(_ pool: Int, now: Duration, into actions: inout PoolActions) {
        let counts = self.pools[pool].counts
        guard self.pools[pool].degraded, self.pools[pool].isRunning, !self.shuttingDown, !self.pools[pool].paused,
            counts.opening + counts.backoff == 0, counts.total < self.pools[pool].limits.max, !self.serverIsFull(pool)
        else { return }
        if let failed = self.pools[pool].lastFailureAt, now - failed < self.pools[pool].configuration.connectRetry.baseDelay {
            return
        }
        self.startOpen(pool, probe: true, now: now, into: &actions)
    }

    @usableFromInline
    mutating func scheduleProbe(_ pool: Int, into actions: inout PoolActions) {
        self.pools[pool].probeScheduled = true
        let delay = self.pools[pool].configuration.effectiveProbeInterval
        actions.append(.schedule(PoolTimer(kind: .breakerProbe(self.poolID(pool)), delay: delay)))
    }
}
