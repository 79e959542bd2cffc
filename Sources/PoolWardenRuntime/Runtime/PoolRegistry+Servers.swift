import PoolCore

extension PoolRegistry {
    /// Every `servers:` budget in the config's order, with its use and its pools, as `caller` may
    /// see them: an admin every budget and pool; a client only the budgets its granted pools count
    /// against, and among their pools only the granted ones. `open` and `max` are the whole
    /// server's either way: a budget is shared, and a client held back by it must be able to see
    /// that it is full.
    public func servers(visibleTo caller: CallerIdentity) -> [ServerBudgetView] {
        state.withLock { state -> [ServerBudgetView] in
            var members: [ServerID: Set<String>] = [:]
            // Draining pools too: their connections count until they are gone.
            for entry in state.pools.values {
                guard let server = entry.server, caller.mayUse(pool: entry.settings.name) else { continue }
                members[server, default: []].insert(entry.settings.name)
            }
            return state.servers.compactMap { budget -> ServerBudgetView? in
                let pools = members[budget.id] ?? []
                guard caller.isAdmin || !pools.isEmpty, let usage = state.group.serverUsage(budget.id) else { return nil }
                return ServerBudgetView(server: budget.label, open: usage.used, max: usage.limit, pools: pools.sorted())
            }
        }
    }
}
