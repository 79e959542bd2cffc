import ArgumentParser

/// `poolwarden release TOKEN`: gives the connection back; an open transaction is rolled back.
struct ReleaseCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "release",
        abstract: "Release a lease: roll back what it left open and return the connection."
    )

    @OptionGroup var options: ClientOptions

    @Argument(help: "The lease token.")
    var token: String

    func run(with session: APISession) async throws {
        let output = try await session.send { try await $0.releaseLease(path: .init(token: token)) }
        guard case .noContent = output else { throw session.refusal() }
        session.emit("released \(LeaseToken.prefix(of: token))")
    }
}
