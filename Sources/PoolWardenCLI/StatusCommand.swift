import ArgumentParser

/// `poolwarden status [POOL]`: every pool (or one) as a table; `-v` adds its connections.
struct StatusCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show pools: state, open/max, idle, leased, waiting, borrows, timeouts.",
        discussion: "With -v, also one row per server connection: its state, age, idle time, and the caller and token prefix holding it."
    )

    @OptionGroup var options: ClientOptions

    @Argument(help: "Only this pool.")
    var pool: String?

    @Flag(name: .shortAndLong, help: "Also list every server connection and its holder.")
    var verbose = false

    func run(with session: APISession) async throws {
        let pools: [Components.Schemas.PoolStatus]
        if let pool {
            let output = try await session.send { try await $0.getPool(path: .init(pool: pool)) }
            guard case .ok(let answer) = output else { throw session.refusal() }
            pools = [try answer.body.json]
        } else {
            let output = try await session.send { try await $0.listPools() }
            guard case .ok(let answer) = output else { throw session.refusal() }
            pools = try answer.body.json.pools
        }
        session.emit(PoolStatusTable.render(pools, verbose: verbose))
    }
}
