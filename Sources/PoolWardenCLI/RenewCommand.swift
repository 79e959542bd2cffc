import ArgumentParser
import Foundation

/// `poolwarden renew TOKEN [--ttl D]`: pushes a lease's expiry out.
struct RenewCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "renew",
        abstract: "Extend a lease: it expires TTL from now."
    )

    @OptionGroup var options: ClientOptions

    @Argument(help: "The lease token.")
    var token: String

    @Option(help: ArgumentHelp("The new TTL (e.g. 5m). Default: the lease's current TTL.", valueName: "duration"))
    var ttl: DurationArgument?

    func run(with session: APISession) async throws {
        let request = Components.Schemas.RenewRequest(ttlMs: ttl?.milliseconds)
        let output = try await session.send { try await $0.renewLease(path: .init(token: token), body: .json(request)) }
        guard case .ok(let answer) = output else { throw session.refusal() }
        let lease = try answer.body.json
        let left = Int(lease.expiresAt.timeIntervalSinceNow * 1000)
        session.emit("renewed \(lease.tokenPrefix): expires in \(DurationText.short(milliseconds: max(left, 0))) (ttl \(DurationText.short(milliseconds: lease.ttlMs)))")
    }
}
