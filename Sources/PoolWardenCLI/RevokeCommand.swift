import ArgumentParser

/// `poolwarden revoke PREFIX [--pool POOL]`: ends one leaked lease by the token prefix status and
/// `pg_stat_activity` show, without recycling its pool (admin).
struct RevokeCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Revoke one lease by its token prefix (admin).",
        discussion: """
            A running statement is cancelled and the lease's open transaction rolled back; its token answers 410 \
            revoked from then on. Without --pool, the pool is the one whose status shows that prefix. \
            A prefix that matches several leases is refused (give more of it).
            """
    )

    @OptionGroup var options: ClientOptions

    @Option(help: ArgumentHelp("The lease's pool (default: found from the pools' status).", valueName: "pool"))
    var pool: String?

    @Argument(help: ArgumentHelp("The token prefix, as status shows it (pwl_ and at least one more character).", valueName: "prefix"))
    var prefix: String

    func validate() throws {
        guard prefix.hasPrefix("pwl_"), prefix.utf8.count >= 5 else {
            throw ValidationError("give the token prefix as status shows it: pwl_ and at least one more character")
        }
    }

    func run(with session: APISession) async throws {
        let pool: String
        if let named = self.pool { pool = named } else { pool = try await findPool(session) }
        let output = try await session.send { try await $0.revokeLease(path: .init(pool: pool, prefix: prefix)) }
        guard case .ok(let answer) = output else { throw session.refusal() }
        let lease = try answer.body.json
        session.emit("revoked \(lease.tokenPrefix) (pool \(lease.pool), caller \(lease.caller))")
    }

    /// The pool whose status lists a connection held under this prefix.
    /// In a cluster, every replica's status: the lease may be held at another one.
    private func findPool(_ session: APISession) async throws -> String {
        let output = try await session.send { try await $0.listPools(query: .init(scope: .cluster)) }
        guard case .ok(let answer) = output else { throw session.refusal() }
        let holding = try answer.body.json.pools.filter { status in
            status.connections.contains { connection in
                guard let shown = connection.tokenPrefix else { return false }
                return shown.hasPrefix(prefix) || prefix.hasPrefix(shown)
            }
        }
        guard holding.count <= 1 else {
            throw ValidationError("\(prefix) is held in pools \(holding.map(\.name).joined(separator: ", ")): name one with --pool")
        }
        guard let found = holding.first else {
            throw ValidationError("no pool's status shows a lease \(prefix): name its pool with --pool")
        }
        return found.name
    }
}
