import ArgumentParser

/// `poolwarden status [POOL]`: every pool (or one) as a table, then the `servers:` budgets they
/// count against; `-v` adds their connections.
struct StatusCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show pools (state, open/max, idle, leased, waiting, borrows, timeouts) and server budgets.",
        discussion: """
            Under the pools, each servers: budget they count against: the connections counting against it, its \
            max_connections and its pools (127.0.0.1:5432  12/12 full  billing, reports). A borrow whose pool has room \
            waits while its server is at its budget, and fails with server_budget_exhausted when its wait ends. \
            With -v, also one row per server connection: its state, age, idle time, and the caller and token \
            prefix holding it. \
            With --cluster, every replica's pools merged (counts summed, each connection row naming its replica), \
            followed by the replicas and whether each answered: an unreachable one is listed, not left out.
            """
    )

    @OptionGroup var options: ClientOptions

    @Argument(help: "Only this pool (and its server budget).")
    var pool: String?

    @Flag(name: .shortAndLong, help: "Also list every server connection and its holder.")
    var verbose = false

    @Flag(help: "Merge every replica's view (GET /v1/pools?scope=cluster).")
    var cluster = false

    func run(with session: APISession) async throws {
        let pools: [Components.Schemas.PoolStatus]
        var servers: [Components.Schemas.ServerBudget] = []
        var replicas: [Components.Schemas.ReplicaView]?
        if let pool {
            // The budgets first, so that the pool's answer is the one `--json` prints; a service
            // without /v1/servers costs only the budget row.
            let budgets = try? await session.send { try await $0.listServers() }
            let output = try await session.send { try await $0.getPool(path: .init(pool: pool)) }
            guard case .ok(let answer) = output else { throw session.refusal() }
            pools = [try answer.body.json]
            if case .ok(let listed) = budgets, let all = try? listed.body.json.servers {
                servers = all.filter { $0.pools.contains(pool) }
            }
        } else {
            let scope: Operations.ListPools.Input.Query.ScopePayload = cluster ? .cluster : .local
            let output = try await session.send { try await $0.listPools(query: .init(scope: scope)) }
            guard case .ok(let answer) = output else { throw session.refusal() }
            let list = try answer.body.json
            pools = list.pools
            servers = list.servers
            replicas = list.replicas
        }
        session.emit(PoolStatusTable.render(pools, servers: servers, replicas: replicas, verbose: verbose))
    }
}
