import ArgumentParser

/// The `poolwarden` executable.
@main
struct PoolWardenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "poolwarden",
        abstract: "One HTTP service that owns PostgreSQL connection pools for many callers.",
        subcommands: [ServeCommand.self, PingCommand.self]
    )
}
