import ArgumentParser
import Foundation

/// `poolwarden leases POOL`: the live leases of a pool, oldest first, tokens by prefix.
struct LeasesCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "leases",
        abstract: "List a pool's live leases (a client key sees only its own).",
        discussion: """
            Tokens show by prefix only, as in the service's status and logs. With --cluster, every replica's leases, \
            each naming its replica, and the replicas that did not answer.
            """
    )

    @OptionGroup var options: ClientOptions

    @Argument(help: "The pool.")
    var pool: String

    @Flag(help: "Every replica's leases (GET /v1/pools/{pool}/leases?scope=cluster).")
    var cluster = false

    func run(with session: APISession) async throws {
        let scope: Operations.ListLeases.Input.Query.ScopePayload = cluster ? .cluster : .local
        let output = try await session.send { try await $0.listLeases(path: .init(pool: pool), query: .init(scope: scope)) }
        guard case .ok(let answer) = output else { throw session.refusal() }
        let list = try answer.body.json
        let leases = list.leases
        let unreachable = (list.replicas ?? []).filter { $0.error != nil }.map { "\($0.name) (\($0.error ?? ""))" }
        if !unreachable.isEmpty { printError("warning: leases missing from replicas: \(unreachable.joined(separator: ", "))") }
        guard !leases.isEmpty else { return session.emit("no leases in \(pool)") }
        var table = TextTable(
            (cluster ? ["TOKEN", "REPLICA"] : ["TOKEN"]) + ["CALLER", "CONN", "PID", "TRANSACTION", "AGE", "EXPIRES IN", "KEY"],
            rightAligned: ["CONN", "PID", "AGE", "EXPIRES IN"]
        )
        let now = Date()
        for lease in leases {
            table.append((cluster ? [lease.tokenPrefix, lease.replica ?? "-"] : [lease.tokenPrefix]) + [ lease.caller, "\(lease.connectionId)", "\(lease.backendPid)", lease.transactionStatus.rawValue,
                DurationText.short(milliseconds: max(0, Int(now.timeIntervalSince(lease.createdAt) * 1000))),
                DurationText.short(milliseconds: Int(lease.expiresAt.timeIntervalSince(now) * 1000)),
                lease.key ?? "-",
            ])
        }
        session.emit(table.render())
    }
}
