import DequeModule

extension PoolGroup {
    /// Adds a database server whose `maxConnections` all pools placed on it share.
    public mutating func addServer(maxConnections: Int) -> ServerID {
        self.servers.append(Server(limit: Swift.max(0, maxConnections)))
        return ServerID(index: UInt32(truncatingIfNeeded: self.servers.count - 1))
    }

    /// Changes a server's budget. Lowering it closes idle connections (longest idle first) until the
    /// server is within budget, and busy ones as they come back; raising it lets waiting pools open.
    public mutating func setServerLimit(_ id: ServerID, maxConnections: Int, now: Instant) -> PoolActions {
        var actions = PoolActions()
        let server = Int(id.index)
        guard server < self.servers.count else { return actions }
        let now = self.ticks(now)
        self.servers[server].limit = Swift.max(0, maxConnections)
        var excess = self.keptOnServer(server) - self.servers[server].limit
        while excess > 0 {
            var oldest: (pool: Int, slot: Int, since: Duration)?
            for member in self.servers[server].pools {
                guard let slot = self.pools[member].idle.first else { continue }
                let since = self.pools[member].slots[slot].lastUsedAt
                if oldest == nil || since < oldest!.since {
                    oldest = (member, slot, since)
                }
            }
            guard let oldest else { break }
            self.closeSlot(oldest.pool, oldest.slot, .serverLimit, into: &actions)
            excess -= 1
        }
        self.rebalance(server: server, now: now, into: &actions)
        return actions
    }

    /// Adds a pool, on `server` if given, and opens its first `min` connections.
    public mutating func addPool(
        _ configuration: PoolConfiguration,
        server: ServerID? = nil,
        now: Instant
    ) throws(PoolGroupError) -> (pool: PoolID, actions: PoolActions) {
        guard !self.shuttingDown else { throw .shutDown }
        var serverIndex: Int?
        if let server {
            guard Int(server.index) < self.servers.count else { throw .unknownServer }
            serverIndex = Int(server.index)
        }
        var configuration = configuration
        configuration.limits = configuration.limits.clamped
        let pool: Int
        if let free = self.freePoolIndexes.popLast() {
            pool = free
            self.pools[pool] = Pool(index: pool, epoch: self.pools[pool].epoch, server: serverIndex, configuration: configuration)
        } else {
            pool = self.pools.count
            self.pools.append(Pool(index: pool, epoch: 0, server: serverIndex, configuration: configuration))
        }
        if let serverIndex {
            self.servers[serverIndex].pools.append(pool)
        }
        var actions = PoolActions()
        self.provision(pool, now: self.ticks(now), into: &actions)
        return (self.poolID(pool), actions)
    }

    /// Changes `min`, `max`, `max_per_caller` and `max_waiting` at runtime. Growing wakes waiters
    /// and opens up to `min`; shrinking closes surplus idle connections now and surplus busy ones
    /// when they come back. No lease is cut and no waiting borrow is refused: a caller over a
    /// lowered quota waits until it is under it again, a queue over a lowered `max_waiting` takes
    /// no new borrows until it is shorter.
    public mutating func resize(_ id: PoolID, limits: PoolLimits, now: Instant) -> PoolActions {
        guard let pool = self.poolIndex(id), self.pools[pool].isRunning else { return PoolActions() }
        var configuration = self.pools[pool].configuration
        configuration.limits = limits
        return self.reconfigure(id, configuration, now: now)
    }

    /// Applies a whole new configuration: limits as ``resize(_:limits:now:)``; a new lifetime or idle
    /// timeout applies to existing connections at once; ttl, timeout and retry settings apply to new
    /// leases, borrows and connects.
    public mutating func reconfigure(_ id: PoolID, _ configuration: PoolConfiguration, now: Instant) -> PoolActions {
        var actions = PoolActions()
        guard let pool = self.poolIndex(id), self.pools[pool].isRunning else { return actions }
        let now = self.ticks(now)
        let old = self.pools[pool].configuration
        var configuration = configuration
        configuration.limits = configuration.limits.clamped
        self.pools[pool].configuration = configuration
        if old.maxLifetime != configuration.maxLifetime || old.maxLifetimeJitter != configuration.maxLifetimeJitter {
            self.restartLifetimes(pool, now: now, into: &actions)
        }
        if old.idleTimeout != configuration.idleTimeout || configuration.limits.min < old.limits.min {
            self.rearmIdleTimers(pool, now: now, into: &actions)
        }
        let freed = self.shedSurplus(pool, into: &actions)
        self.serveQueue(pool, now: now, into: &actions)
        if freed, let server = self.pools[pool].server {
            self.rebalance(server: server, now: now, into: &actions)
        }
        return actions
    }

    /// Closes what a lower `max` no longer allows and can go now: retries first (they hold no
    /// connection), then idle connections, longest idle first. True when slots were freed.
    @usableFromInline
    mutating func shedSurplus(_ pool: Int, into actions: inout PoolActions) -> Bool {
        var surplus = self.pools[pool].counts.kept - self.pools[pool].limits.max
        var freed = false
        var slot = 0
        while surplus > 0, slot < self.pools[pool].slots.count {
            if self.pools[pool].slots[slot].phase == .backoff {
                actions.append(.cancel(.connectBackoff(self.connectionID(pool, slot))))
                self.freeSlot(pool, slot)
                freed = true
                surplus -= 1
            }
            slot += 1
        }
        while surplus > 0, let oldest = self.pools[pool].idle.first {
            self.closeSlot(pool, oldest, .surplus, into: &actions)
            surplus -= 1
        }
        return freed
    }

    @usableFromInline
    mutating func restartLifetimes(_ pool: Int, now: Duration, into actions: inout PoolActions) {
        let lifetime = self.pools[pool].configuration.maxLifetime
        let jitter = self.pools[pool].configuration.effectiveLifetimeJitter.clampedNanoseconds
        for slot in self.pools[pool].slots.indices {
            guard self.pools[pool].handles[slot] != nil, self.pools[pool].slots[slot].phase != .closing else { continue }
            let createdAt = self.pools[pool].slots[slot].createdAt
            guard let lifetime else {
                self.pools[pool].slots[slot].retiresAt = nil
                continue
            }
            let shortening = Duration.nanoseconds(Int64.random(in: 0...jitter, using: &self.random))
            let retiresAt = createdAt + lifetime - shortening
            self.pools[pool].slots[slot].retiresAt = retiresAt
            let delay = Swift.max(.zero, retiresAt - now)
            actions.append(.schedule(PoolTimer(kind: .maxLifetime(self.connectionID(pool, slot)), delay: delay)))
        }
    }

    @usableFromInline
    mutating func rearmIdleTimers(_ pool: Int, now: Duration, into actions: inout PoolActions) {
        guard let timeout = self.pools[pool].configuration.idleTimeout else { return }
        for slot in self.pools[pool].idle {
            let deadline = self.pools[pool].slots[slot].lastUsedAt + timeout
            if let armed = self.pools[pool].slots[slot].idleTimer, armed <= deadline { continue }
            self.pools[pool].slots[slot].idleTimer = deadline
            let delay = Swift.max(.zero, deadline - now)
            actions.append(.schedule(PoolTimer(kind: .idleTimeout(self.connectionID(pool, slot)), delay: delay)))
        }
    }

    /// Retires connections at least `olderThan` old (all when nil) and bumps the pool's generation.
    /// Idle ones close now; leased ones close at release (`graceful`) or now with their leases
    /// revoked (`immediate`); ones being opened, checked or reset close when that finishes.
    /// Replacements open up to `min` and for waiters.
    public mutating func recycle(
        _ id: PoolID,
        mode: RecycleMode,
        olderThan: Duration? = nil,
        now: Instant
    ) -> (counts: RecycleCounts, actions: PoolActions) {
        var actions = PoolActions()
        var counts = RecycleCounts()
        guard let pool = self.poolIndex(id), self.pools[pool].isRunning else { return (counts, actions) }
        let now = self.ticks(now)
        self.pools[pool].generation += 1
        for slot in self.pools[pool].slots.indices {
            let phase = self.pools[pool].slots[slot].phase
            guard phase != .free, phase != .closing, phase != .backoff else { continue }
            if let olderThan, now - self.pools[pool].slots[slot].createdAt < olderThan { continue }
            switch phase {
            case .idle:
                self.closeSlot(pool, slot, .recycled, into: &actions)
                counts.closed += 1
            case .leased where mode == .immediate:
                if self.revokeLease(pool, slot, .recycled, into: &actions) {
                    counts.revoked += 1
                } else {
                    counts.closed += 1
                }
                self.closeSlot(pool, slot, .recycled, into: &actions)
            default:
                self.pools[pool].slots[slot].retire = .recycled
                counts.deferred += 1
            }
        }
        self.serveQueue(pool, now: now, into: &actions)
        return (counts, actions)
    }

    /// Borrows wait instead of being served, and those whose wait ends meanwhile fail with
    /// ``BorrowFailure/paused``; leases go on, released connections go idle.
    public mutating func pause(_ id: PoolID, now: Instant) -> PoolActions {
        if let pool = self.poolIndex(id), self.pools[pool].isRunning {
            self.pools[pool].paused = true
        }
        return PoolActions()
    }

    /// Serves the borrows that waited during the pause, in order.
    public mutating func resume(_ id: PoolID, now: Instant) -> PoolActions {
        var actions = PoolActions()
        guard let pool = self.poolIndex(id), self.pools[pool].isRunning, self.pools[pool].paused else { return actions }
        self.pools[pool].paused = false
        self.serveQueue(pool, now: self.ticks(now), into: &actions)
        return actions
    }

    /// Deletes a pool: new borrows are refused, waiters fail with ``BorrowFailure/poolDraining``, idle
    /// connections close now; leases are revoked and their connections closed (`revokeLeases`) or
    /// closed when released. ``PoolAction/poolClosed(_:)`` follows once no connection of the pool is left.
    public mutating func deletePool(_ id: PoolID, revokeLeases: Bool, now: Instant) -> PoolActions {
        var actions = PoolActions()
        guard let pool = self.poolIndex(id) else { return actions }
        switch self.pools[pool].lifecycle {
        case .running:
            self.drain(pool, revokeLeases: revokeLeases, now: self.ticks(now), into: &actions)
        case .draining(revokeLeases: false) where revokeLeases:
            self.pools[pool].lifecycle = .draining(revokeLeases: true)
            self.revokeAllLeases(pool, reason: .deleted, into: &actions)
        case .draining, .gone:
            break
        }
        self.finishIfDrained(pool, into: &actions)
        return actions
    }

    /// Closes everything: every waiter fails with ``BorrowFailure/shutdown``, every lease is revoked,
    /// every connection closes; connects in flight close when they finish.
    /// ``PoolAction/shutdownComplete`` follows once no server connection is left (invariant 5).
    public mutating func shutdown(now: Instant) -> PoolActions {
        var actions = PoolActions()
        guard !self.shuttingDown else { return actions }
        let now = self.ticks(now)
        self.shuttingDown = true
        for pool in self.pools.indices {
            switch self.pools[pool].lifecycle {
            case .running:
                self.drain(pool, revokeLeases: true, now: now, into: &actions)
            case .draining:
                self.pools[pool].lifecycle = .draining(revokeLeases: true)
                self.revokeAllLeases(pool, reason: .shutdown, into: &actions)
            case .gone:
                continue
            }
            self.finishIfDrained(pool, into: &actions)
        }
        self.completeShutdownIfDone(into: &actions)
        return actions
    }

    @usableFromInline
    mutating func drain(_ pool: Int, revokeLeases: Bool, now: Duration, into actions: inout PoolActions) {
        self.pools[pool].lifecycle = .draining(revokeLeases: revokeLeases)
        let id = self.poolID(pool)
        let failure: BorrowFailure = self.shuttingDown ? .shutdown : .poolDraining
        for waiter in self.pools[pool].waiters.removeAll() {
            self.forgetWaiter(pool, caller: waiter.caller)
            actions.append(.fail(request: waiter.request, pool: id, failure))
            actions.append(.cancel(.borrowDeadline(id, request: waiter.request)))
        }
        if self.pools[pool].probeScheduled {
            self.pools[pool].probeScheduled = false
            actions.append(.cancel(.breakerProbe(id)))
        }
        let reason = self.drainReason
        var freed = false
        for slot in self.pools[pool].slots.indices {
            switch self.pools[pool].slots[slot].phase {
            case .idle:
                self.closeSlot(pool, slot, reason, into: &actions)
            case .backoff:
                actions.append(.cancel(.connectBackoff(self.connectionID(pool, slot))))
                self.freeSlot(pool, slot)
                freed = true
            case .free, .opening, .checking, .resetting, .closing, .leased:
                break
            }
        }
        if revokeLeases {
            self.revokeAllLeases(pool, reason: self.shuttingDown ? .shutdown : .deleted, into: &actions)
        }
        if freed, let server = self.pools[pool].server {
            self.rebalance(server: server, now: now, into: &actions)
        }
    }

    @usableFromInline
    mutating func revokeAllLeases(_ pool: Int, reason: RevokeReason, into actions: inout PoolActions) {
        for slot in self.pools[pool].slots.indices where self.pools[pool].slots[slot].phase == .leased {
            self.revokeLease(pool, slot, reason, into: &actions)
            self.closeSlot(pool, slot, self.drainReason, into: &actions)
        }
    }

    /// A draining pool with no slot left is removed: its id goes stale and the runtime is told.
    @usableFromInline
    mutating func finishIfDrained(_ pool: Int, into actions: inout PoolActions) {
        guard case .draining = self.pools[pool].lifecycle, self.pools[pool].counts.total == 0 else { return }
        let id = self.poolID(pool)
        if let server = self.pools[pool].server {
            self.servers[server].pools.removeAll { $0 == pool }
        }
        self.pools[pool] = Pool(index: pool, epoch: self.pools[pool].epoch &+ 1, server: nil, configuration: PoolConfiguration())
        self.pools[pool].lifecycle = .gone
        self.freePoolIndexes.append(pool)
        actions.append(.poolClosed(id))
        self.completeShutdownIfDone(into: &actions)
    }

    @usableFromInline
    mutating func completeShutdownIfDone(into actions: inout PoolActions) {
        guard self.shuttingDown, !self.shutDown else { return }
        for pool in self.pools.indices {
            if case .gone = self.pools[pool].lifecycle { continue }
            return
        }
        self.shutDown = true
        actions.append(.shutdownComplete)
    }
}
