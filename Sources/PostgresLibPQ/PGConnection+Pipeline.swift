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
        try Self.refuseNUL(statements)
        return try await exclusively { try await runPipeline(statements) }
    }

    private func runPipeline(_ statements: [PGStatement]) async throws -> [Result<PGQueryResult, PGError>] {
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
            outcomes.append(try await collectSegment(limits: statement.limits))
        }
        // Every result is read, so the connection is idle and leaves pipeline mode.
        guard PQexitPipelineMode(handle) == 1 else { throw failure(server: nil) }
        return outcomes
    }

    /// Reads a sync segment of one statement: its outcome, then the sync.
    func collectSegment(limits: PGResultLimits) async throws -> Result<PGQueryResult, PGError> {
        let outcome = try await collect(limits: limits)
        if PQstatus(handle) == CONNECTION_BAD { throw failure(server: outcome.error) }
        try await awaitSync()
        return outcome.result
    }

    /// Reads the end of a sync segment.
    func awaitSync() async throws {
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
