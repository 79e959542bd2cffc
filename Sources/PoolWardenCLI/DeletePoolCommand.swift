import ArgumentParser

/// `poolwarden delete-pool POOL`: revokes the pool's leases, closes its connections, removes it.
struct DeletePoolCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete-pool",
        abstract: "Delete a pool: revoke its leases, close every server connection (admin)."
    )

    @OptionGroup var options: ClientOptions

    @Argument(help: "The pool.")
    var pool: String

    func run(with session: APISession) async throws {
        let output = try await session.send { try await $0.deletePool(path: .init(pool: pool)) }
        guard case .noContent = output else { throw session.refusal() }
        session.emit("deleted pool \(pool)")
    }
}
