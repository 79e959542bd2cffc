import ArgumentParser

/// `poolwarden reload`: asks the service to re-read its config file and apply the difference,
/// as SIGHUP does, and prints what changed (or every problem of the file, exit 2).
struct ReloadCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Re-read the service's config file and apply the difference without dropping a lease (admin).",
        discussion: """
            New pools start, removed ones are deleted, changed settings apply as resize does (a new conninfo or \
            password recycles gracefully), callers and keys change for the next request. A file with problems \
            changes nothing: each problem is printed by field and the exit status is 2.
            """
    )

    @OptionGroup var options: ClientOptions

    func run(with session: APISession) async throws {
        let output = try await session.send { try await $0.reloadConfig() }
        guard case .ok(let answer) = output else { throw session.refusal() }
        let result = try answer.body.json
        var lines = result.changes.isEmpty ? ["reloaded: nothing changed"] : ["reloaded: \(result.changes.count) change(s)"]
        lines += result.changes.map { "  \($0.detail)" }
        lines += result.restartRequired.map { "  \($0) changed in the file; takes effect at the next restart" }
        lines += result.failures.map { "  failed: \($0)" }
        session.emit(lines.joined(separator: "\n"))
    }
}
