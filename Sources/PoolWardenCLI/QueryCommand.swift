import ArgumentParser

/// `poolwarden query TOKEN SQL [PARAM...]` runs one statement on a lease (transactions span
/// calls); `poolwarden query --pool POOL SQL [PARAM...]` borrows, runs and releases in one call.
struct QueryCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Run one SQL statement on a lease, or single shot on a pool.",
        usage: """
            poolwarden query [<options>] <token> <sql> [<param> ...]
            poolwarden query [<options>] --pool <pool> <sql> [<param> ...]
            """,
        discussion: """
            Parameters are positional: $1, $2, ... in the SQL. \(QueryParameter.help) \
            On a lease, BEGIN ... COMMIT span calls; a single shot runs in autocommit and rolls back anything left open. \
            The result prints as a table with a row count; --json prints the service's result as it came. \
            With --pool, --csv and --ndjson write the rows to stdout as they arrive (RFC 4180 CSV with a header row; \
            NDJSON with a header line, one array per row and a trailer); a statement that fails after its first rows \
            exits 2 (NDJSON, the error line is printed) or 3 (CSV, cut off). \
            A COMMIT that the server answers with ROLLBACK (the transaction had failed) exits 4.
            """
    )

    @OptionGroup var options: ClientOptions

    @Option(help: ArgumentHelp("Run single shot on this pool instead of on a lease.", valueName: "pool"))
    var pool: String?

    @Option(help: ArgumentHelp("Cancel the statement after this long (e.g. 30s). Default: the pool's statement timeout.", valueName: "duration"))
    var timeout: DurationArgument?

    @Option(help: ArgumentHelp("With --pool: wait this long for a connection (e.g. 2s; 0: not at all). Default: the pool's borrow timeout.", valueName: "duration"))
    var wait: DurationArgument?

    @Flag(help: "With --pool: stream the rows to stdout as CSV as they arrive.")
    var csv = false

    @Flag(help: "With --pool: stream the rows to stdout as NDJSON as they arrive.")
    var ndjson = false

    @Argument(help: ArgumentHelp("The lease token (unless --pool), then the SQL, then its parameters.", valueName: "token|sql|param"))
    var words: [String] = []

    func validate() throws {
        if wait != nil, pool == nil { throw ValidationError("--wait goes with --pool: a lease already holds its connection") }
        if csv || ndjson {
            if csv, ndjson { throw ValidationError("--csv and --ndjson exclude each other") }
            if pool == nil { throw ValidationError("--csv and --ndjson go with --pool: streams are offered on single shots") }
            if options.json { throw ValidationError("--json and --\(csv ? "csv" : "ndjson") exclude each other") }
        }
        let needed = pool == nil ? 2 : 1
        guard words.count >= needed else {
            throw ValidationError(pool == nil ? "give a lease TOKEN and the SQL (or --pool POOL and the SQL)" : "give the SQL to run")
        }
    }

    var requestTimeout: Duration {
        let asked = (timeout?.duration ?? .zero) + (wait?.duration ?? .zero)
        return max(APISession.defaultTimeout, asked + .seconds(30))
    }

    func run(with session: APISession) async throws {
        let rest = pool == nil ? words.dropFirst() : words[...]
        let request = Components.Schemas.QueryRequest(
            sql: rest.first ?? "",
            params: rest.dropFirst().map(QueryParameter.value),
            timeoutMs: timeout?.milliseconds,
            waitMs: wait?.milliseconds
        )
        if let pool, csv || ndjson {
            let accept: Operations.QueryPool.AcceptableContentType = csv ? .csv : .applicationXNdjson
            let output = try await session.send {
                try await $0.queryPool(path: .init(pool: pool), headers: .init(accept: [.init(contentType: accept)]), body: .json(request))
            }
            guard case .ok(let answer) = output else { throw session.refusal() }
            switch answer.body {
            case .csv(let body), .applicationXNdjson(let body): try await session.stream(body)
            case .json: throw CLIFailure.unusable(session.baseURL, reason: "the service answered JSON where a stream was asked for")
            }
            return
        }
        let result: Components.Schemas.QueryResult
        if let pool {
            let output = try await session.send { try await $0.queryPool(path: .init(pool: pool), body: .json(request)) }
            guard case .ok(let answer) = output else { throw session.refusal() }
            result = try answer.body.json
        } else {
            let token = words[0]
            let output = try await session.send { try await $0.queryLease(path: .init(token: token), body: .json(request)) }
            guard case .ok(let answer) = output else { throw session.refusal() }
            result = try answer.body.json
        }
        session.emit(QueryResultTable.render(result))
        if pool == nil, result.command == "ROLLBACK", Self.isCommit(rest.first ?? "") { throw CLIFailure.rolledBack }
    }

    /// COMMIT in any of PostgreSQL's spellings (END, COMMIT WORK, COMMIT TRANSACTION, a trailing
    /// semicolon); not COMMIT PREPARED, whose answer is not ROLLBACK.
    static func isCommit(_ sql: String) -> Bool {
        let words = sql.lowercased().split { $0.isWhitespace || $0 == ";" }
        guard let first = words.first, first == "commit" || first == "end" else { return false }
        return words.dropFirst().allSatisfy { $0 == "work" || $0 == "transaction" }
    }
}
