import ArgumentParser
import Foundation

/// `poolwarden create-pool NAME --conninfo C`: adds a pool at runtime. The password comes from an
/// environment variable, never from the command line, where other users could read it.
struct CreatePoolCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-pool",
        abstract: "Create a pool at runtime (admin).",
        discussion: """
            Connections up to --min open in the background: the pool shows state degraded and its last error \
            if it cannot connect. Omitted settings take the service's defaults.
            """
    )

    @OptionGroup var options: ClientOptions

    @Argument(help: "The new pool's name.")
    var name: String

    @Option(help: ArgumentHelp("libpq conninfo (host=db1 dbname=app user=app) or postgresql:// URI, without the password.", valueName: "conninfo"))
    var conninfo: String

    @Option(help: ArgumentHelp("Read the database password from this environment variable.", valueName: "var"))
    var passwordEnv: String?

    @Option(help: "Connections kept open even when idle.")
    var min: Int?

    @Option(help: "Most server connections the pool may hold.")
    var max: Int?

    @Option(help: "Most leases one caller may hold in the pool.")
    var maxPerCaller: Int?

    @Option(help: ArgumentHelp("Revoke a lease idle this long (e.g. 60s).", valueName: "duration"))
    var leaseTtl: DurationArgument?

    @Option(help: ArgumentHelp("How long a borrow waits by default (e.g. 5s).", valueName: "duration"))
    var borrowTimeout: DurationArgument?

    @Option(help: ArgumentHelp("Replace a connection after this age (e.g. 30m; off or 0: never).", valueName: "duration"))
    var maxLifetime: DurationArgument?

    @Option(help: ArgumentHelp("Close connections above --min idle this long (e.g. 5m; off or 0: never).", valueName: "duration"))
    var idleTimeout: DurationArgument?

    @Option(help: ArgumentHelp("Check a connection idle longer than this before handing it out (e.g. 30s).", valueName: "duration"))
    var healthCheckAfter: DurationArgument?

    @Option(help: ArgumentHelp("Cancel statements running longer (e.g. 30s; off or 0: never).", valueName: "duration"))
    var statementTimeout: DurationArgument?

    @Option(help: ArgumentHelp("Share the connection budget of this servers: entry (host:port).", valueName: "host:port"))
    var server: String?

    func validate() throws {
        if let passwordEnv, ProcessInfo.processInfo.environment[passwordEnv] == nil {
            throw ValidationError("--password-env \(passwordEnv): no such environment variable")
        }
    }

    func run(with session: APISession) async throws {
        let request = Components.Schemas.CreatePoolRequest(
            name: name,
            conninfo: conninfo,
            password: passwordEnv.flatMap { ProcessInfo.processInfo.environment[$0] },
            min: min,
            max: max,
            maxPerCaller: maxPerCaller,
            leaseTtlMs: leaseTtl?.milliseconds,
            borrowTimeoutMs: borrowTimeout?.milliseconds,
            maxLifetimeMs: maxLifetime?.milliseconds,
            idleTimeoutMs: idleTimeout?.milliseconds,
            healthCheckAfterMs: healthCheckAfter?.milliseconds,
            statementTimeoutMs: statementTimeout?.milliseconds,
            server: server
        )
        let output = try await session.send { try await $0.createPool(body: .json(request)) }
        guard case .created(let answer) = output else { throw session.refusal() }
        let status = try answer.body.json
        session.emit(PoolStatusTable.render([status], verbose: false))
    }
}
