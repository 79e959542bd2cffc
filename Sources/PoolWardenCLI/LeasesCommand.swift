import ArgumentParser
import Foundation

/// `poolwarden leases POOL`: the live leases of a pool, oldest first, tokens by prefix.
struct LeasesCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "leases",
        abstract: "List a pool's live leases (a client key sees only its own).",
        discussion: "Tokens show by prefix only, as in the service's status and logs."
    )

    @OptionGroup var options: ClientOptions

    @Argument(help: "The pool.")
    var pool: String

    func run(with session: APISession) async throws {
        let output = try await session.send { try await $0.listLeases(path: .init(pool: pool)) }
        guard case .ok(let answer) = output else { throw session.refusal() }
        let leases = try answer.body.json.leases
        guard !leases.isEmpty else { return session.emit("no leases in \(pool)") }
        var table = TextTable(
            ["TOKEN", "CALLER", "CONN", "PID", "TRANSACTION", "AGE", "EXPIRES IN", "KEY"],
            rightAligned: ["CONN", "PID", "AGE", "EXPIRES IN"]
        )
        let now = Date()
        for lease in leases {
            table.append([
                lease.tokenPrefix, lease.caller, "\(lease.connectionId)", "\(lease.backendPid)", lease.transactionStatus.rawValue,
                DurationText.short(milliseconds: max(0, Int(now.timeIntervalSince(lease.createdAt) * 1000))),
                DurationText.short(milliseconds: Int(lease.expiresAt.timeIntervalSince(now) * 1000)),
                lease.key ?? "-",
            ])
        }
        session.emit(table.render())
    }
}
