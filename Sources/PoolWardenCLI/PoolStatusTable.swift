/// Pool status as text: one row per pool with the numbers operators watch, the last connect
/// error under the table, and with `verbose` one row per server connection with its holder.
enum PoolStatusTable {
    static func render(_ pools: [Components.Schemas.PoolStatus], verbose: Bool) -> String {
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
        if verbose { sections.append(connections(of: pools)) }
        return sections.joined(separator: "\n\n")
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
