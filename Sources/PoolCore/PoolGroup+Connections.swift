extension PoolGroup {
    /// A connect started by ``PoolAction/open(_:pool:attempt:)`` succeeded. The connection serves the
    /// longest waiter or goes idle; a degraded pool recovers.
    public mutating func connectionOpened(_ id: ConnectionID, _ connection: Types.Connection, now: Instant) -> PoolActions {
        var actions = PoolActions()
        guard let (pool, slot) = self.slotIndex(id), self.pools[pool].slots[slot].phase == .opening else {
            return actions
        }
        let now = self.ticks(now)
        self.pools[pool].handles[slot] = connection
        self.pools[pool].slots[slot].createdAt = now
        self.pools[pool].slots[slot].lastUsedAt = now
        self.pools[pool].slots[slot].probe = false
        self.pools[pool].consecutiveFailures = 0
        // The last error describes the server as it was; a connect that worked supersedes it.
        self.pools[pool].lastError = nil
        let recovered = self.pools[pool].degraded
        if recovered {
            self.pools[pool].degraded = false
            if self.pools[pool].probeScheduled {
                self.pools[pool].probeScheduled = false
                actions.append(.cancel(.breakerProbe(self.poolID(pool))))
            }
        }
        if let lifetime = self.pools[pool].configuration.maxLifetime {
            let jitter = self.pools[pool].configuration.effectiveLifetimeJitter.clampedNanoseconds
            let shortening = Duration.nanoseconds(Int64.random(in: 0...jitter, using: &self.random))
            self.pools[pool].slots[slot].retiresAt = now + lifetime - shortening
        }
        self.makeAvailable(pool, slot, now: now, into: &actions)
        if self.pools[pool].slots[slot].phase != .closing, let retiresAt = self.pools[pool].slots[slot].retiresAt {
            actions.append(.schedule(PoolTimer(kind: .maxLifetime(id), delay: retiresAt - now)))
        }
        if recovered {
            self.serveQueue(pool, now: now, into: &actions)
        }
        return actions
    }

    /// A connect failed. It is retried after a full-jitter backoff until the attempt budget is spent;
    /// then the pool turns degraded: waiters fail with `connect_failed` and the last error, and a
    /// probe timer takes over reconnecting.
    ///
    /// - Parameter error: the libpq error text, password redacted; kept as the pool's last error.
    public mutating func connectFailed(_ id: ConnectionID, error: String, now: Instant) -> PoolActions {
        var actions = PoolActions()
        guard let (pool, slot) = self.slotIndex(id), self.pools[pool].slots[slot].phase == .opening else {
            return actions
        }
        let now = self.ticks(now)
        self.pools[pool].totals.connectFailures += 1
        self.pools[pool].lastError = error
        self.pools[pool].consecutiveFailures += 1
        self.pools[pool].lastFailureAt = now
        let attempt = self.pools[pool].slots[slot].attempt
        if !self.pools[pool].isRunning || self.shuttingDown {
            self.abandonSlot(pool, slot, now: now, into: &actions)
        } else if self.pools[pool].slots[slot].probe {
            self.freeSlot(pool, slot)
            self.scheduleProbe(pool, into: &actions)
            self.capacityFreed(pool, now: now, into: &actions)
        } else if self.pools[pool].degraded {
            self.abandonSlot(pool, slot, now: now, into: &actions)
        } else if attempt < self.pools[pool].configuration.connectRetry.attempts {
            // A retry opens a fresh connection with the current settings, so a recycle mark no longer applies.
            self.pools[pool].slots[slot].retire = nil
            self.setPhase(pool, slot, .backoff)
            let delay = self.pools[pool].configuration.connectRetry.delay(afterFailedAttempts: attempt, using: &self.random)
            actions.append(.schedule(PoolTimer(kind: .connectBackoff(id), delay: delay)))
        } else {
            self.freeSlot(pool, slot)
            self.enterDegraded(pool, into: &actions)
            self.capacityFreed(pool, now: now, into: &actions)
        }
        return actions
    }

    /// A connection the group asked to close is closed: its slot is free and counts nowhere any
    /// more. A pool or server waiting for room gets it.
    public mutating func connectionClosed(_ id: ConnectionID, now: Instant) -> PoolActions {
        var actions = PoolActions()
        guard let (pool, slot) = self.slotIndex(id), self.pools[pool].slots[slot].phase == .closing else {
            return actions
        }
        let now = self.ticks(now)
        let evictedFor = self.pools[pool].slots[slot].evictedFor
        self.freeSlot(pool, slot)
        // Its global slot was given back before this report: a connect may find it now.
        self.pools[pool].awaitingSlot = false
        if let evictedFor, let beneficiary = self.poolIndex(evictedFor) {
            self.pools[beneficiary].pendingEvictions -= 1
        }
        self.capacityFreed(pool, now: now, into: &actions)
        self.finishIfDrained(pool, into: &actions)
        return actions
    }

    /// Every connection sitting idle in any pool, for the runtime's background look at whether
    /// the server closed them (``connectionLost(_:now:)``).
    public func idleConnections() -> [(id: ConnectionID, connection: Types.Connection)] {
        var idle: [(id: ConnectionID, connection: Types.Connection)] = []
        for pool in self.pools.indices {
            for slot in self.pools[pool].slots.indices where self.pools[pool].slots[slot].phase == .idle {
                if let handle = self.pools[pool].handles[slot] { idle.append((self.connectionID(pool, slot), handle)) }
            }
        }
        return idle
    }

    /// The runtime found a connection dead outside a request (its socket closed while idle, say).
    /// An idle one is closed and replaced; one in use is closed when it comes back.
    public mutating func connectionLost(_ id: ConnectionID, now: Instant) -> PoolActions {
        var actions = PoolActions()
        guard let (pool, slot) = self.slotIndex(id) else { return actions }
        switch self.pools[pool].slots[slot].phase {
        case .idle:
            self.closeSlot(pool, slot, .lost, into: &actions)
            self.provision(pool, now: self.ticks(now), into: &actions)
        case .leased, .checking, .resetting:
            self.pools[pool].slots[slot].retire = .lost
        case .free, .opening, .backoff, .closing:
            break
        }
        return actions
    }

    /// The rollback asked for by ``PoolAction/reset(_:)`` worked: the connection is clean again.
    public mutating func resetSucceeded(_ id: ConnectionID, now: Instant) -> PoolActions {
        var actions = PoolActions()
        guard let (pool, slot) = self.slotIndex(id), self.pools[pool].slots[slot].phase == .resetting else {
            return actions
        }
        let now = self.ticks(now)
        self.pools[pool].slots[slot].lastUsedAt = now
        self.makeAvailable(pool, slot, now: now, into: &actions)
        return actions
    }

    /// The rollback failed: the connection may still hold uncommitted work, so it is closed, never
    /// reused (invariant 3), and replaced up to `min`.
    public mutating func resetFailed(_ id: ConnectionID, now: Instant) -> PoolActions {
        var actions = PoolActions()
        guard let (pool, slot) = self.slotIndex(id), self.pools[pool].slots[slot].phase == .resetting else {
            return actions
        }
        self.closeSlot(pool, slot, .resetFailed, into: &actions)
        self.provision(pool, now: self.ticks(now), into: &actions)
        return actions
    }

    /// The health check asked for by ``PoolAction/healthCheck(_:)`` passed: the connection serves the
    /// longest waiter.
    public mutating func checkSucceeded(_ id: ConnectionID, now: Instant) -> PoolActions {
        var actions = PoolActions()
        guard let (pool, slot) = self.slotIndex(id), self.pools[pool].slots[slot].phase == .checking else {
            return actions
        }
        let now = self.ticks(now)
        self.pools[pool].slots[slot].lastUsedAt = now
        self.makeAvailable(pool, slot, now: now, into: &actions)
        return actions
    }

    /// The health check failed: the connection is closed and the waiters it would have served look
    /// for another one.
    public mutating func checkFailed(_ id: ConnectionID, now: Instant) -> PoolActions {
        var actions = PoolActions()
        guard let (pool, slot) = self.slotIndex(id), self.pools[pool].slots[slot].phase == .checking else {
            return actions
        }
        self.pools[pool].totals.healthCheckFailures += 1
        self.closeSlot(pool, slot, .checkFailed, into: &actions)
        self.serveQueue(pool, now: self.ticks(now), into: &actions)
        return actions
    }

    /// Drops a slot that never got a connection and is no longer wanted.
    @usableFromInline
    mutating func abandonSlot(_ pool: Int, _ slot: Int, now: Duration, into actions: inout PoolActions) {
        self.freeSlot(pool, slot)
        self.capacityFreed(pool, now: now, into: &actions)
        self.finishIfDrained(pool, into: &actions)
    }
}

extension PoolGroup {
    /// How soon a pool that found no global slot tries again while borrows wait, and while only
    /// `min` wants a connection.
    public static var slotRetryForWaiters: Duration { .milliseconds(50) }
    public static var slotRetryForMin: Duration { .seconds(1) }

    /// The connect was not started: every global slot is held (by other replicas, or this one's
    /// coordination is lost). Not a connect failure: the pool is not degraded and its waiters keep
    /// waiting; no connect starts until the retry timer fires or one of its connections closes.
    public mutating func connectDeferred(_ id: ConnectionID, now: Instant) -> PoolActions {
        var actions = PoolActions()
        guard let (pool, slot) = self.slotIndex(id), self.pools[pool].slots[slot].phase == .opening else {
            return actions
        }
        let now = self.ticks(now)
        self.freeSlot(pool, slot)
        if self.pools[pool].isRunning, !self.shuttingDown {
            self.pools[pool].awaitingSlot = true
            let delay = self.pools[pool].unmetDemand > 0 ? Self.slotRetryForWaiters : Self.slotRetryForMin
            actions.append(.schedule(PoolTimer(kind: .slotRetry(self.poolID(pool)), delay: delay)))
        }
        self.capacityFreed(pool, now: now, into: &actions)
        self.finishIfDrained(pool, into: &actions)
        return actions
    }

    /// Closes connections that no longer hold a global slot: idle ones now, leased ones now with
    /// their leases revoked (the cap is the contract), ones being opened, checked or reset when
    /// that finishes.
    public mutating func retire(_ ids: [ConnectionID], now: Instant) -> PoolActions {
        var actions = PoolActions()
        let now = self.ticks(now)
        var touched: Set<Int> = []
        for id in ids {
            guard let (pool, slot) = self.slotIndex(id) else { continue }
            switch self.pools[pool].slots[slot].phase {
            case .idle:
                self.closeSlot(pool, slot, .slotLost, into: &actions)
            case .leased:
                _ = self.revokeLease(pool, slot, .slotLost, into: &actions)
                self.closeSlot(pool, slot, .slotLost, into: &actions)
            case .opening, .checking, .resetting:
                self.pools[pool].slots[slot].retire = .slotLost
            case .free, .closing, .backoff:
                continue
            }
            touched.insert(pool)
        }
        for pool in touched {
            self.serveQueue(pool, now: now, into: &actions)
        }
        return actions
    }

    /// Gives back `count` of `candidates` for another replica: connections already closing or
    /// marked count first, then idle ones close now, then ones in use close when they come back
    /// (a lease is never cut short for this).
    public mutating func shed(_ candidates: [ConnectionID], count: Int, now: Instant) -> PoolActions {
        var actions = PoolActions()
        var remaining = count
        var located: [(pool: Int, slot: Int)] = []
        for id in candidates {
            guard let (pool, slot) = self.slotIndex(id) else { continue }
            let phase = self.pools[pool].slots[slot].phase
            if phase == .closing || self.pools[pool].slots[slot].retire != nil {
                remaining -= 1
            } else if phase != .free && phase != .backoff {
                located.append((pool, slot))
            }
        }
        for (pool, slot) in located where remaining > 0 && self.pools[pool].slots[slot].phase == .idle {
            self.closeSlot(pool, slot, .rebalanced, into: &actions)
            remaining -= 1
        }
        for (pool, slot) in located where remaining > 0 && self.pools[pool].slots[slot].phase != .closing {
            self.pools[pool].slots[slot].retire = .rebalanced
            remaining -= 1
        }
        return actions
    }

    /// Closes up to `count` idle connections among `candidates` whose pools stay at or above
    /// their `min` without them: room on a server whose budget the cluster has spent, for another
    /// pool's waiting borrows, as a full local budget makes room (``evictIdle(onServer:for:into:)``).
    public mutating func evictIdle(_ candidates: [ConnectionID], count: Int, now: Instant) -> PoolActions {
        var actions = PoolActions()
        var remaining = count
        for id in candidates where remaining > 0 {
            guard let (pool, slot) = self.slotIndex(id), self.pools[pool].slots[slot].phase == .idle,
                  self.pools[pool].counts.kept > self.pools[pool].limits.min
            else { continue }
            self.closeSlot(pool, slot, .evicted, into: &actions)
            remaining -= 1
        }
        return actions
    }
}
