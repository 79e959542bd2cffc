import ArgumentParser
import Foundation

/// `poolwarden tx POOL -c SQL -c SQL ...` runs a whole transaction in one call.
struct TxCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "tx",
        abstract: "Run several SQL statements as one transaction on a pool, in one call.",
        discussion: """
            The statements come from -c (repeatable, in order) and --file (one statement per line, blank lines \
            skipped, - for stdin; the SQL is never split on semicolons, so a line holds exactly one statement). \
            They run between BEGIN and COMMIT on one connection; a failing statement rolls them all back and \
            exits 2 naming it (statement N, counted from 1). Each result prints as a table; --json prints \
            the service's answer as it came.
            """
    )

    enum Isolation: String, ExpressibleByArgument, CaseIterable {
        case readCommitted = "read-committed"
        case repeatableRead = "repeatable-read"
        case serializable
    }

    @OptionGroup var options: ClientOptions

    @Argument(help: ArgumentHelp("The pool to run the transaction on.", valueName: "pool"))
    var pool: String

    @Option(name: [.customShort("c"), .customLong("command")], help: ArgumentHelp("A statement; repeat for more.", valueName: "sql"))
    var commands: [String] = []

    @Option(help: ArgumentHelp("Read statements from this file, one per line (- for stdin), after any -c.", valueName: "file"))
    var file: String?

    @Option(help: ArgumentHelp("The isolation level. Default: the server's.", valueName: "level"))
    var isolation: Isolation?

    @Flag(help: "Begin READ ONLY: a write fails.")
    var readOnly = false

    @Flag(help: "Begin DEFERRABLE (with --isolation serializable --read-only).")
    var deferrable = false

    @Flag(help: "Run again, at most 3 more times, after a serialization failure or deadlock.")
    var retry = false

    @Option(help: ArgumentHelp("Cancel the transaction after this long (e.g. 30s). Default: the pool's statement timeout.", valueName: "duration"))
    var timeout: DurationArgument?

    @Option(help: ArgumentHelp("Wait this long for a connection (e.g. 2s; 0: not at all). Default: the pool's borrow timeout.", valueName: "duration"))
    var wait: DurationArgument?

    func validate() throws {
        if commands.isEmpty, file == nil { throw ValidationError("give the statements with -c SQL (repeatable) or --file FILE") }
    }

    var requestTimeout: Duration {
        let asked = (timeout?.duration ?? .zero) + (wait?.duration ?? .zero)
        return max(APISession.defaultTimeout, asked + .seconds(30))
    }

    func run(with session: APISession) async throws {
        var statements = commands
        if let file { statements += try Self.lines(of: file) }
        guard !statements.isEmpty else { throw ValidationError("\(file ?? "the file") holds no statement") }
        let request = Components.Schemas.TransactionRequest(
            statements: statements.map { Components.Schemas.Statement(sql: $0) },
            isolation: isolation.map(Self.payload),
            readOnly: readOnly ? true : nil,
            deferrable: deferrable ? true : nil,
            timeoutMs: timeout?.milliseconds,
            waitMs: wait?.milliseconds,
            retryOnSerializationFailure: retry ? true : nil
        )
        let output = try await session.send { try await $0.runTransaction(path: .init(pool: pool), body: .json(request)) }
        guard case .ok(let answer) = output else { throw session.refusal() }
        let result = try answer.body.json
        session.emit(result.results.map(QueryResultTable.render).joined(separator: "\n\n"))
    }

    /// One statement per non-blank line, as the line holds it.
    static func lines(of path: String) throws -> [String] {
        let data: Data
        do {
            data = path == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ValidationError("cannot read \(path): \(error.localizedDescription)")
        }
        return String(decoding: data, as: UTF8.self)
            .split(omittingEmptySubsequences: true, whereSeparator: \.isNewline)
            .map(String.init)
            .filter { !$0.allSatisfy(\.isWhitespace) }
    }

    private static func payload(_ isolation: Isolation) -> Components.Schemas.TransactionRequest.IsolationPayload {
        switch isolation {
        case .readCommitted: .readCommitted
        case .repeatableRead: .repeatableRead
        case .serializable: .serializable
        }
    }
}
