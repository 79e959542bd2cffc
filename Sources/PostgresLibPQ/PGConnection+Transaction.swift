import CLibPQ

extension PGConnection {
    /// Runs `statements` as one transaction in one round trip: BEGIN (as `mode` says), the
    /// statements and COMMIT go out back to back in one pipeline sync segment, so that after the
    /// first failure PostgreSQL skips the rest and commits nothing. The session is then in a
    /// failed transaction (unless COMMIT itself failed, which ends it): the caller rolls back.
    /// `trailing` statements (a session reset) follow in sync segments of their own, in the same
    /// round trip.
    ///
    /// `budget` bounds the results of all the statements together: each streams in single-row mode
    /// against what the earlier ones left, and one that passes it fails with `.resultTooLarge` and
    /// cancels the server's work. That cancel may arrive after COMMIT ran: `committed` says.
    ///
    /// Throws for a connection-level failure, as `query` does; cancelling the task cancels
    /// whichever statement runs.
    public func transaction(
        _ mode: PGTransactionMode,
        _ statements: [PGStatement],
        budget: PGResultLimits,
        then trailing: [PGStatement] = []
    ) async throws -> PGBatchOutcome {
        try Self.refuseNUL(statements + trailing)
        return try await exclusively {
            try await runTransaction(mode.beginStatement, statements, budget: budget, trailing: trailing)
        }
    }

    /// Runs `statements` one after another, as separate calls of `query` would (each in its own
    /// implicit transaction unless the list opens one), in one operation, stopping at the first
    /// that fails. Each waits for the one before: a statement the server ran while an earlier one
    /// failed would be work the caller did not ask for.
    ///
    /// `budget` bounds the results of all of them together, as for `transaction`.
    public func batch(_ statements: [PGStatement], budget: PGResultLimits) async throws -> PGBatchOutcome {
        try Self.refuseNUL(statements)
        return try await exclusively {
            var outcome = PGBatchOutcome()
            var remaining = budget
            for (index, statement) in statements.enumerated() {
                let (result, bytes) = try await run(statement.sql, statement.parameters, limits: remaining)
                switch account(result, bytes: bytes, remaining: &remaining, budget: budget) {
                case .success(let value):
                    outcome.results.append(value)
                case .failure(let error):
                    outcome.failure = PGStatementFailure(index: index, error: error)
                    return outcome
                }
            }
            return outcome
        }
    }

    private func runTransaction(
        _ begin: String,
        _ statements: [PGStatement],
        budget: PGResultLimits,
        trailing: [PGStatement]
    ) async throws -> PGBatchOutcome {
        guard PQenterPipelineMode(handle) == 1 else { throw failure(server: nil) }
        try send(begin, [])
        for statement in statements { try send(statement.sql, statement.parameters) }
        try send("COMMIT", [])
        guard PQpipelineSync(handle) == 1 else { throw failure(server: nil) }
        for statement in trailing {
            try send(statement.sql, statement.parameters)
            guard PQpipelineSync(handle) == 1 else { throw failure(server: nil) }
        }
        try await flush()

        var outcome = PGBatchOutcome()
        var remaining = budget
        // BEGIN, the statements, COMMIT: every one has its results, the skipped ones
        // PGRES_PIPELINE_ABORTED, and all are read so that the segment's sync comes next.
        for index in -1...statements.count {
            let isStatement = statements.indices.contains(index)
            let nextStreams = budget != .unlimited && statements.indices.contains(index + 1)
            let collected = try await collect(limits: isStatement ? remaining : .unlimited, thenSingleRow: nextStreams)
            if PQstatus(handle) == CONNECTION_BAD { throw failure(server: collected.error) }
            let result = isStatement ? account(collected.result, bytes: collected.bytes, remaining: &remaining, budget: budget) : collected.result
            switch result {
            case .success(let value):
                if isStatement, outcome.failure == nil { outcome.results.append(value) }
                if index == statements.count { outcome.committed = true }
            case .failure(let error):
                if outcome.failure == nil { outcome.failure = PGStatementFailure(index: index, error: error) }
            }
        }
        try await awaitSync()
        for statement in trailing {
            outcome.trailing.append(try await collectSegment(limits: statement.limits))
        }
        guard PQexitPipelineMode(handle) == 1 else { throw failure(server: nil) }
        return outcome
    }

    /// Charges a statement's result to what is left of a list's budget; a result over it fails
    /// with the whole budget as its limit, which is what the caller configured.
    private func account(
        _ result: Result<PGQueryResult, PGError>,
        bytes: Int,
        remaining: inout PGResultLimits,
        budget: PGResultLimits
    ) -> Result<PGQueryResult, PGError> {
        switch result {
        case .success(let value):
            if remaining.maxRows != .max { remaining.maxRows -= value.rows.count }
            if remaining.maxBytes != .max { remaining.maxBytes -= bytes }
            return .success(value)
        case .failure(let error) where error.kind == .resultTooLarge:
            return .failure(ResultCollector(limits: budget).tooLargeError(together: true))
        case .failure(let error):
            return .failure(error)
        }
    }
}
