import ArgumentParser

/// `poolwarden resume POOL`: waiting borrows are served in arrival order.
struct ResumeCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Resume borrowing from a paused pool (admin)."
    )

    @OptionGroup var options: ClientOptions

    @Argument(help: "The pool.")
    var pool: String

    func run(with session: APISession) async throws {
        let output = try await session.send { try await $0.resumePool(path: .init(pool: pool)) }
        guard case .ok(let answer) = output else { throw session.refusal() }
        let status = try answer.body.json
        session.emit(PoolStatusTable.render([status], verbose: false))
    }
}
