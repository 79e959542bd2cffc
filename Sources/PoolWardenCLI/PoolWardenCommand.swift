import ArgumentParser
import PoolWardenHTTP

/// The `poolwarden` executable: the service (`serve`), a driver check (`ping`), and the client
/// subcommands that talk to a running service. Started from `main.swift`.
struct PoolWardenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "poolwarden",
        abstract: "One HTTP service that owns PostgreSQL connection pools for many callers.",
        discussion: """
            The client subcommands find the service at $POOLWARDEN_URL (default http://127.0.0.1:8080) and send \
            the caller key in $POOLWARDEN_KEY (--url and --api-key override). Exit status: 0 done, 1 usage error, \
            2 the service said no (its problem code and detail on stderr), 3 the service could not be reached, \
            4 a COMMIT came back as ROLLBACK (query).
            """,
        version: poolWardenVersion,
        subcommands: [
            ServeCommand.self, PingCommand.self,
            StatusCommand.self, BorrowCommand.self, QueryCommand.self, TxCommand.self, ReleaseCommand.self, RenewCommand.self,
            LeasesCommand.self, RevokeCommand.self, ResizeCommand.self, RecycleCommand.self, PauseCommand.self, ResumeCommand.self,
            CreatePoolCommand.self, DeletePoolCommand.self, ReloadCommand.self,
        ]
    )

    /// ArgumentParser's own `main`, except that usage errors exit 1 rather than EX_USAGE (64):
    /// scripts get 1 usage, 2 refused, 3 unreachable.
    static func start() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                printError(fullMessage(for: error))
                exit(withError: ExitCode(1))
            }
            exit(withError: error)
        }
    }
}
