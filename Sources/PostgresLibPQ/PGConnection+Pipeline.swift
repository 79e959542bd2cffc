import CLibPQ

/// One statement of a pipeline.
public struct PGStatement: Sendable {
    public var sql: String
    public var parameters: [String?]
    public var limits: PGResultLimits

    public init(_ sql: String, _ parameters: [String?] = [], limits: PGResultLimits = .unlimited) {
        self.sql = sql
        self.parameters = parameters
        self.limits = limits
    }
}

extension PGConnection {
    /// Runs statements in one round trip (libpq pipeline mode), each in a sync segment of its own:
    /// a failing statement does not stop the ones after it, and each runs in its own implicit
    /// transaction, as if sent one by one. Returns one outcome per statement.
    ///
    /// Only the first statement may stream under limits (libpq's single-row mode applies to the
    /// head of the queue). Throws for a connection-level failure, as `query` does; cancelling the
    /// task cancels whichever statement runs.
    public func pipeline(_ statements: [PGStatement]) async throws -> [Result<PGQueryResult, PGError>] {
        guard !statements.isEmpty else { return [] }
        try Self.refuseNULs(statements)
        try beginOperation()
        defer { endOperation() }
        return try await withTaskCancellationHandler {
            try await settle()
            return try await runPipeline(statements)
        } onCancel: {
            Task(executorPreference: self.reactor) { await self.cancel() }
        }
    }

    /// Runs `statement`, then `tail` in the same round trip (each in a sync segment of its own),
    /// and answers once the statement's own segment is read: the tail's results are left for the
    /// next call on this connection to read first (``settle()``), by when they have arrived, so
    /// the tail costs neither a wait nor a wake-up of its own. A deferred tail that failed closes
    /// the connection before anything else runs on it: nothing ever runs on a session that the
    /// tail (a reset, say) was to clean.
    ///
    /// The tail is read at once instead when the statement failed (its segment may have been
    /// cancelled into the tail) or opened a transaction (a tail such as `DISCARD ALL` then fails,
    /// which the caller handles). Returns the statement's outcome and whether the tail
    /// succeeded or is deferred.
    public func query(_ statement: PGStatement, then tail: [PGStatement]) async throws -> (result: Result<PGQueryResult, PGError>, tailSucceeded: Bool) {
        try Self.refuseNULs([statement] + tail)
        try beginOperation()
        defer { endOperation() }
        return try await withTaskCancellationHandler {
            try await settle()
            guard PQenterPipelineMode(handle) == 1 else { throw failure(server: nil) }
            for (index, item) in ([statement] + tail).enumerated() {
                try send(item.sql, item.parameters)
                if index == 0, item.limits != .unlimited { PQsetSingleRowMode(handle) }
                guard PQpipelineSync(handle) == 1 else { throw failure(server: nil) }
            }
            try await flush()
            let outcome = try await collect(limits: statement.limits)
            if PQstatus(handle) == CONNECTION_BAD { throw failure(server: outcome.error) }
            try await awaitSync()
            if case .success(let result) = outcome.result, !Self.opensTransaction(result.command) {
                setDeferredSegments(tail.count)
                return (outcome.result, true)
            }
            var succeeded = true
            for item in tail {
                let step = try await collect(limits: item.limits)
                if PQstatus(handle) == CONNECTION_BAD { throw failure(server: step.error) }
                if case .failure = step.result { succeeded = false }
                try await awaitSync()
            }
            guard PQexitPipelineMode(handle) == 1 else { throw failure(server: nil) }
            return (outcome.result, succeeded)
        } onCancel: {
            Task(executorPreference: self.reactor) { await self.cancel() }
        }
    }

    /// Whether a statement that answered `command` leaves a transaction open after its sync:
    /// only these do, one statement at a time (`COMMIT AND CHAIN` fails outside a transaction).
    private static func opensTransaction(_ command: String) -> Bool {
        command == "BEGIN" || command == "START TRANSACTION"
    }

    /// Reads the results of a deferred tail, first thing in a call. Throws, having closed the
    /// connection, when a statement of the tail failed.
    func settle() async throws {
        let segments = deferredSegments
        guard segments > 0 else { return }
        // The answers have usually arrived while the connection sat idle: reading them now
        // spares a wait on the socket.
        if PQconsumeInput(handle) == 0 { throw failure(server: nil) }
        var tailFailure: PGError?
        for _ in 0..<segments {
            let step = try await collect(limits: .unlimited)
            if PQstatus(handle) == CONNECTION_BAD { throw failure(server: step.error) }
            if case .failure(let error) = step.result, tailFailure == nil { tailFailure = error }
            try await awaitSync()
        }
        setDeferredSegments(0)
        guard PQexitPipelineMode(handle) == 1 else { throw failure(server: nil) }
        if let tailFailure {
            close()
            throw PGError(
                kind: .connectionLost,
                message: "the statements run after the previous call failed (\(tailFailure.message)); the connection was closed",
                sqlState: tailFailure.sqlState,
                connectionUsable: false
            )
        }
    }

    /// How long a probe waits for a deferred tail's results.
    static let settleLimit: Duration = .seconds(5)

    private static func refuseNULs(_ statements: [PGStatement]) throws {
        for statement in statements where statement.sql.utf8.contains(0) || statement.parameters.contains(where: { $0?.utf8.contains(0) ?? false }) {
            throw PGError(kind: .sql, message: "statement or parameter contains a NUL byte", sqlState: "22021", connectionUsable: true)
        }
    }

    func runPipeline(_ statements: [PGStatement]) async throws -> [Result<PGQueryResult, PGError>] {
        guard PQenterPipelineMode(handle) == 1 else { throw failure(server: nil) }
        for (index, statement) in statements.enumerated() {
            try send(statement.sql, statement.parameters)
            if index == 0, statement.limits != .unlimited { PQsetSingleRowMode(handle) }
            guard PQpipelineSync(handle) == 1 else { throw failure(server: nil) }
        }
        try await flush()
        var outcomes: [Result<PGQueryResult, PGError>] = []
        outcomes.reserveCapacity(statements.count)
        for statement in statements {
            let outcome = try await collect(limits: statement.limits)
            if PQstatus(handle) == CONNECTION_BAD { throw failure(server: outcome.error) }
            outcomes.append(outcome.result)
            try await awaitSync()
        }
        // Every result is read, so the connection is idle and leaves pipeline mode.
        guard PQexitPipelineMode(handle) == 1 else { throw failure(server: nil) }
        return outcomes
    }

    /// Reads the end of a sync segment.
    private func awaitSync() async throws {
        while true {
            while PQisBusy(handle) == 1 {
                try await waitForSocket(.read)
                if PQconsumeInput(handle) == 0 { throw failure(server: nil) }
                drainNotifications()
            }
            guard let result = PQgetResult(handle) else {
                if PQstatus(handle) == CONNECTION_BAD { throw failure(server: nil) }
                // libpq answers a sync segment's end right after the statement's NULL; anything
                // else leaves the connection in a state nobody should reuse.
                close()
                throw PGError(kind: .connectionClosed, message: "the pipeline ended without its sync", connectionUsable: false)
            }
            let status = PQresultStatus(result)
            PQclear(result)
            if status == PGRES_PIPELINE_SYNC { return }
        }
    }
}
