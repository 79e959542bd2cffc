import ArgumentParser

/// `poolwarden pause POOL`: new borrows wait; leases already out go on.
struct PauseCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause",
        abstract: "Pause borrowing from a pool: new borrows wait, leases go on (admin)."
    )

    @OptionGroup var options: ClientOptions

    @Argument(help: "The pool.")
    var pool: String

    func run(with session: APISession) async throws {
        let output = try await session.send { try await $0.pausePool(path: .init(pool: pool)) }
        guard case .ok(let answer) = output else { throw session.refusal() }
        let status = try answer.body.json
        session.emit(PoolStatusTable.render([status], verbose: false))
    }
}
