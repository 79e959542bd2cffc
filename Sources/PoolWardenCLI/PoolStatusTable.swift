/// Pool status as text: one row per pool with the numbers operators watch, the last connect
/// error under the table, the `servers:` budgets, and with `verbose` one row per server
/// connection with its holder.
enum PoolStatusTable {
    static func render(_ pools: [Components.Schemas.PoolStatus], servers: [Components.Schemas.ServerBudget] = [], verbose: Bool) -> String {
        guard !pools.isEmpty else { return "no pools" }
        var summary = TextTable(
            ["POOL", "STATE", "OPEN/MAX", "IDLE", "LEASED", "WAITING", "BORROWS", "TIMEOUTS"],
            rightAligned: ["OPEN/MAX", "IDLE", "LEASED", "WAITING", "BORROWS", "TIMEOUTS"]
        )
        for pool in pools {
            summary.append([
                pool.name, pool.state.rawValue, "\(pool.counts.open)/\(pool.limits.max)", "\(pool.counts.idle)",
                "\(pool.counts.leased)", "\(pool.counts.waiting)", "\(pool.totals.borrows)", "\(pool.totals.timeouts)",
            ])
        }
        var sections = [summary.render()]
        let errors = pools.compactMap { pool in pool.lastError.map { "\(pool.name): last connect error: \($0)" } }
        if !errors.isEmpty { sections.append(errors.joined(separator: "\n")) }
        if !servers.isEmpty { sections.append(budgets(servers)) }
        if verbose { sections.append(connections(of: pools)) }
        return sections.joined(separator: "\n\n")
    }

    /// One row per budget: `127.0.0.1:5432  12/12 full  billing, reports`. OPEN/MAX is
    /// left-aligned so that an address and its use read as one pair, as operators quote them.
    private static func budgets(_ servers: [Components.Schemas.ServerBudget]) -> String {
        var table = TextTable(["SERVER", "OPEN/MAX", "POOLS"])
        for server in servers {
            let use = "\(server.open)/\(server.max)" + (server.open >= server.max ? " full" : "")
            table.append([server.server, use, server.pools.isEmpty ? "-" : server.pools.joined(separator: ", ")])
        }
        return table.render()
    }

    private static func connections(of pools: [Components.Schemas.PoolStatus]) -> String {
        let rows = pools.flatMap { pool in pool.connections.map { (pool.name, $0) } }
        guard !rows.isEmpty else { return "no server connections" }
        var table = TextTable(
            ["POOL", "CONN", "PID", "STATE", "AGE", "IDLE", "CALLER", "TOKEN"],
            rightAligned: ["CONN", "PID", "AGE", "IDLE"]
        )
        for (pool, connection) in rows {
            table.append([
                pool, "\(connection.id)", connection.backendPid.map(String.init) ?? "-", connection.state.rawValue,
                DurationText.short(milliseconds: connection.ageMs), DurationText.short(milliseconds: connection.idleMs),
                connection.caller ?? "-", connection.tokenPrefix ?? "-",
            ])
        }
        return table.render()
    }
}
