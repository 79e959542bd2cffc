/// Pool status as text: one row per pool with the numbers operators watch, the last connect
/// error under the table, the `servers:` budgets, and with `verbose` one row per server
/// connection with its holder.
enum PoolStatusTable {
    static func render(
        _ pools: [Components.Schemas.PoolStatus], servers: [Components.Schemas.ServerBudget] = [],
        replicas: [Components.Schemas.ReplicaView]? = nil, verbose: Bool
    ) -> String {
        let replicaSection = replicas.map(Self.replicas)
        guard !pools.isEmpty else { return (["no pools"] + (replicaSection.map { [$0] } ?? [])).joined(separator: "\n\n") }
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
        if let replicaSection { sections.append(replicaSection) }
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

    /// A cluster view's replicas: `poolwarden-1  unreachable  connect timed out`.
    private static func replicas(_ replicas: [Components.Schemas.ReplicaView]) -> String {
        var table = TextTable(["REPLICA", "VIEW", "ERROR"])
        for replica in replicas {
            let view = replica.reachable && replica.error == nil ? "included" : (replica.reachable ? "missing" : "unreachable")
            table.append([replica.name, view, replica.error ?? "-"])
        }
        return table.render()
    }

    private static func connections(of pools: [Components.Schemas.PoolStatus]) -> String {
        let rows = pools.flatMap { pool in pool.connections.map { (pool.name, $0) } }
        guard !rows.isEmpty else { return "no server connections" }
        // A cluster view's rows name their replica; a single service's have none to show.
        let clustered = rows.contains { $0.1.replica != nil }
        var table = TextTable(
            (clustered ? ["POOL", "REPLICA"] : ["POOL"]) + ["CONN", "PID", "STATE", "AGE", "IDLE", "CALLER", "TOKEN"],
            rightAligned: ["CONN", "PID", "AGE", "IDLE"]
        )
        for (pool, connection) in rows {
            table.append((clustered ? [pool, connection.replica ?? "-"] : [pool]) + [
                "\(connection.id)", connection.backendPid.map(String.init) ?? "-", connection.state.rawValue,
                DurationText.short(milliseconds: connection.ageMs), DurationText.short(milliseconds: connection.idleMs),
                connection.caller ?? "-", connection.tokenPrefix ?? "-",
            ])
        }
        return table.render()
    }
}
