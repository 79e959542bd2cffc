import DequeModule

extension PoolGroup {
    /// The pools that exist (draining ones included), in creation-slot order.
    public var poolIDs: [PoolID] {
        self.pools.indices.compactMap { pool in
            if case .gone = self.pools[pool].lifecycle { return nil }
            return self.poolID(pool)
        }
    }

    /// True once ``shutdown(now:)`` was called.
    public var isShuttingDown: Bool { self.shuttingDown }

    /// True once the shutdown has closed every connection.
    public var isShutDown: Bool { self.shutDown }

    /// A server's budget and the connections of its pools that count against it.
    public func serverUsage(_ id: ServerID) -> (limit: Int, used: Int)? {
        let server = Int(id.index)
        guard server < self.servers.count else { return nil }
        return (self.servers[server].limit, self.servers[server].total)
    }

    /// The status of a pool, or nil when it does not exist.
    public func status(_ id: PoolID) -> PoolStatus? {
        guard let pool = self.poolIndex(id) else { return nil }
        let phases = self.pools[pool].counts
        var counts = PoolCounts()
        counts.idle = phases.idle
        counts.leased = phases.leased
        counts.opening = phases.opening + phases.backoff
        counts.checking = phases.checking
        counts.resetting = phases.resetting
        counts.closing = phases.closing
        counts.open = phases.idle + phases.checking + phases.leased + phases.resetting + phases.closing
        counts.waiting = self.pools[pool].waiters.count

        var rows: [ConnectionRow] = []
        rows.reserveCapacity(phases.total)
        for slot in self.pools[pool].slots.indices {
            let entry = self.pools[pool].slots[slot]
            guard let state = entry.phase.publicState else { continue }
            let holder = self.pools[pool].holders[slot]
            rows.append(
                ConnectionRow(
                    id: self.connectionID(pool, slot),
                    state: state,
                    connection: self.pools[pool].handles[slot],
                    createdAt: self.instant(entry.createdAt),
                    lastUsedAt: self.instant(entry.lastUsedAt),
                    caller: holder?.caller,
                    lease: entry.lease.map { self.leaseID(pool, slot, serial: $0.serial) },
                    leaseExpiresAt: entry.lease.map { self.instant($0.expiresAt) },
                    generation: entry.generation,
                    attempt: entry.attempt,
                    retiring: entry.retire
                )
            )
        }
        rows.sort { $0.id < $1.id }
        return PoolStatus(
            pool: id,
            server: self.pools[pool].server.map { ServerID(index: UInt32(truncatingIfNeeded: $0)) },
            state: self.pools[pool].state,
            paused: self.pools[pool].paused,
            degraded: self.pools[pool].degraded,
            configuration: self.pools[pool].configuration,
            counts: counts,
            totals: self.pools[pool].totals,
            lastError: self.pools[pool].lastError,
            consecutiveConnectFailures: self.pools[pool].consecutiveFailures,
            generation: self.pools[pool].generation,
            connections: rows
        )
    }
}
