import PoolCore

extension PoolRegistry {
    /// Looks at every idle connection, each second with the metrics, for a server that closed it
    /// (stopped, restarted, crashed, or `pg_terminate_backend`), so that a pool with no traffic
    /// still notices an outage: a dead connection is dropped and replaced, and a replacement that
    /// cannot connect turns the pool `degraded` and `/readyz` 503. Costs one non-blocking `recv`
    /// per idle connection; a connection in use is left to its holder.
    func checkIdleConnections() {
        let idle = state.withLock { $0.group.idleConnections() }
        let dead = idle.filter { !$0.connection.pg.checkIdle() }
        guard !dead.isEmpty else { return }
        let effects = state.withLock { state -> RegistryEffects in
            var effects = RegistryEffects()
            let now = ContinuousClock.now
            for (id, _) in dead {
                apply(state.group.connectionLost(id, now: now), to: &state, now: now, effects: &effects)
            }
            return effects
        }
        perform(effects)
        logger.warning("idle connections closed by the server: replacing them", metadata: ["count": "\(dead.count)"])
    }
}
