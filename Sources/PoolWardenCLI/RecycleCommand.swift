import ArgumentParser

/// `poolwarden recycle POOL [--immediate] [--older-than D]`: replaces server connections, e.g.
/// after a failover or a password rotation.
struct RecycleCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "recycle",
        abstract: "Close a pool's server connections so fresh ones replace them (admin).",
        discussion: """
            Graceful (the default): idle connections close now, leased ones when they are released. \
            --immediate also revokes the leases on them: their transactions roll back and their tokens answer lease_gone.
            """
    )

    @OptionGroup var options: ClientOptions

    @Argument(help: "The pool.")
    var pool: String

    @Flag(help: "Also revoke leases now instead of waiting for their release.")
    var immediate = false

    @Option(help: ArgumentHelp("Only connections at least this old (e.g. 10m).", valueName: "duration"))
    var olderThan: DurationArgument?

    func run(with session: APISession) async throws {
        let request = Components.Schemas.RecycleRequest(mode: immediate ? .immediate : .graceful, olderThanMs: olderThan?.milliseconds)
        let output = try await session.send { try await $0.recyclePool(path: .init(pool: pool), body: .json(request)) }
        guard case .ok(let answer) = output else { throw session.refusal() }
        let result = try answer.body.json
        session.emit("recycled \(pool): \(result.closed) closed now, \(result.deferred) at release, \(result.revoked) lease(s) revoked")
    }
}
