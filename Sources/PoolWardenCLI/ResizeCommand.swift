import ArgumentParser

/// `poolwarden resize POOL [--min N] [--max N] [--max-per-caller N]`: changes a pool's limits at
/// runtime. Growing wakes waiters; shrinking closes surplus connections as they come back.
struct ResizeCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "resize",
        abstract: "Change a pool's limits at runtime (admin).",
        discussion: "No lease is cut: surplus idle connections close now, surplus leased ones when they are released."
    )

    @OptionGroup var options: ClientOptions

    @Argument(help: "The pool.")
    var pool: String

    @Option(help: "Connections kept open even when idle.")
    var min: Int?

    @Option(help: "Most server connections the pool may hold.")
    var max: Int?

    @Option(help: "Most leases one caller may hold in the pool.")
    var maxPerCaller: Int?

    func validate() throws {
        if min == nil && max == nil && maxPerCaller == nil {
            throw ValidationError("give at least one of --min, --max, --max-per-caller")
        }
    }

    func run(with session: APISession) async throws {
        let request = Components.Schemas.UpdatePoolRequest(min: min, max: max, maxPerCaller: maxPerCaller)
        let output = try await session.send { try await $0.updatePool(path: .init(pool: pool), body: .json(request)) }
        guard case .ok(let answer) = output else { throw session.refusal() }
        let status = try answer.body.json
        let limits = status.limits
        session.emit("""
            resized \(status.name): min \(limits.min), max \(limits.max), max per caller \(limits.maxPerCaller)

            \(PoolStatusTable.render([status], verbose: false))
            """)
    }
}
