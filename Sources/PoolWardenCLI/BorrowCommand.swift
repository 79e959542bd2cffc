import ArgumentParser

/// `poolwarden borrow POOL`: borrows a connection and prints the token alone, so that
/// `T=$(poolwarden borrow app)` works.
struct BorrowCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "borrow",
        abstract: "Borrow a connection; print its lease token and nothing else.",
        discussion: """
            Release the lease when done (poolwarden release "$T"); an unused lease is revoked after its TTL, \
            and its open transaction rolled back. The token is a secret: anyone holding it and your key can use the lease.
            """
    )

    @OptionGroup var options: ClientOptions

    @Argument(help: "The pool to borrow from.")
    var pool: String

    @Option(help: ArgumentHelp("Revoke the lease after it idles this long (e.g. 60s). Default: the pool's lease TTL.", valueName: "duration"))
    var ttl: DurationArgument?

    @Option(help: ArgumentHelp("Wait at most this long for a free connection (e.g. 5s, 0 to fail at once). Default: the pool's borrow timeout.", valueName: "duration"))
    var wait: DurationArgument?

    @Option(help: ArgumentHelp("Idempotency key: while your lease with this key lives, borrowing again returns it instead of a new one.", valueName: "key"))
    var key: String?

    func run(with session: APISession) async throws {
        let request = Components.Schemas.BorrowRequest(ttlMs: ttl?.milliseconds, waitMs: wait?.milliseconds, key: key)
        let output = try await session.send { try await $0.borrowLease(path: .init(pool: pool), body: .json(request)) }
        let lease: Components.Schemas.Lease
        switch output {
        case .created(let answer): lease = try answer.body.json
        case .ok(let answer): lease = try answer.body.json
        default: throw session.refusal()
        }
        session.emit(lease.token)
    }
}
