import PostgresLibPQ

extension PoolRegistry {
    /// How many more times a transaction that asked for it runs after a serialization failure or
    /// deadlock: four tries in all.
    public static let serializationRetries = 3

    /// SQLSTATEs after which running the same transaction again can succeed.
    static let retryableStates: Set<String> = ["40001", "40P01"]

    /// Runs a transaction in one call: borrows as a single shot does (no application_name tag,
    /// a connection found dead before use replaced within the wait), sends BEGIN, every statement
    /// and COMMIT in one round trip with the session reset behind them, and releases.
    ///
    /// A failing statement rolls the whole transaction back: `statementFailed` with its index (the
    /// statement count for COMMIT) and its cause (`sqlError`, `statementTimeout`,
    /// `resultTooLarge`). With `retryOnSerializationFailure`, 40001 and 40P01 run it again after
    /// a rollback, up to ``serializationRetries`` more times, all within `timeout`. Throws as
    /// `queryOnce` does otherwise; `invalidRequest` for an empty list or one over the pool's
    /// `max_statements`.
    public func transaction(pool: String, caller: CallerIdentity, _ request: TransactionRequest) async throws(WardenError) -> TransactionOutcome {
        try await transaction(pool: pool, caller: caller, request, hangUp: nil)
    }

    package func transaction(
        pool: String,
        caller: CallerIdentity,
        _ request: TransactionRequest,
        hangUp: ClientHangUp?
    ) async throws(WardenError) -> TransactionOutcome {
        try Self.requirePositive(request.timeout)
        guard caller.mayUse(pool: pool) else { throw .forbidden("caller \(caller.name) may not use pool \(pool)") }
        for (index, statement) in request.statements.enumerated() {
            if let command = TransactionRequest.transactionControl(statement.sql) {
                throw .invalidRequest(
                    "statements[\(index)] is \(command): a transaction in one call begins and commits itself, and a statement "
                        + "that ends it would commit part of it; control the transaction yourself with a lease's batch",
                    field: "statements[\(index)].sql"
                )
            }
        }
        // Refused before a connection is borrowed for it.
        try state.withLock { state throws(WardenError) in
            guard let id = state.poolIDs[pool], let entry = state.pools[id] else { return }
            try PoolSettingsRules.statementCount(request.statements.count, entry.settings)
        }
        return try await once(pool: pool, caller: caller, wait: request.wait, hangUp: hangUp) { token throws(WardenError) in
            let run = try await onLease(
                token: token, caller: caller, timeout: request.timeout, statements: request.statements.count, resetAfter: true
            ) { pg, job in
                try await Self.runTransaction(request, on: pg, job)
            }
            let (outcome, attempts) = run.value
            if let failure = outcome.failure {
                throw Self.statementFailure(failure, attempts: attempts, committed: outcome.committed, run)
            }
            return TransactionOutcome(results: outcome.results, attempts: attempts)
        }
    }

    /// Runs statements in order on a lease's session, without adding BEGIN or COMMIT, and stops at
    /// the first that fails: `statementFailed` with its index. The lease stays usable; a
    /// transaction the statements opened stays open (failed, if the failure was inside it) for
    /// the caller to end, as in psql. Bounds and errors as `query`, with `timeout` for the whole
    /// batch and the pool's result limits for all its results together.
    public func batch(
        token: String,
        caller: CallerIdentity,
        statements: [PGStatement],
        timeout: Duration?
    ) async throws(WardenError) -> [PGQueryResult] {
        let run = try await onLease(token: token, caller: caller, timeout: timeout, statements: statements.count, resetAfter: false) { pg, job in
            (try await pg.batch(statements, budget: job.limits), false)
        }
        if let failure = run.value.failure { throw Self.statementFailure(failure, attempts: nil, committed: false, run) }
        return run.value.results
    }

    /// The transaction's tries on one connection. A retry starts from a rolled-back session; the
    /// last failure is left for the release's reset to roll back, off the caller's path.
    private static func runTransaction(
        _ request: TransactionRequest,
        on pg: PGConnection,
        _ job: LeaseJob
    ) async throws -> ((PGBatchOutcome, attempts: Int), pristine: Bool) {
        var attempts = 0
        while true {
            attempts += 1
            let outcome = try await pg.transaction(request.mode, request.statements, budget: job.limits, then: job.resets)
            let pristine = !job.resets.isEmpty && outcome.trailing.allSatisfy { (try? $0.get()) != nil } && pg.transactionStatus == .idle
            guard let failure = outcome.failure, request.retryOnSerializationFailure, !outcome.committed,
                attempts <= serializationRetries, let state = failure.error.sqlState, retryableStates.contains(state)
            else { return ((outcome, attempts), pristine) }
            if pg.transactionStatus != .idle { _ = try await pg.query("ROLLBACK") }
            // The transaction it lost to is likely still finishing: a short, growing, jittered
            // pause keeps two retrying callers from colliding again in step.
            try await Task.sleep(for: .milliseconds(Int.random(in: 5...20) * attempts))
        }
    }

    /// The error a failed statement answers. `committed`: a result over the limit was found only
    /// after COMMIT had run on the server; the caller must not take the answer for a rollback.
    private static func statementFailure<T>(_ failure: PGStatementFailure, attempts: Int?, committed: Bool, _ run: LeaseRun<T>) -> WardenError {
        var cause = wardenError(failure.error, timedOut: run.timedOut, limit: run.limit)
        if committed, case .resultTooLarge(let message) = cause {
            cause = .resultTooLarge(message + "; the transaction was committed all the same: COMMIT had run when the limit was passed")
        }
        guard failure.index >= 0 else { return cause }
        return .statementFailed(index: failure.index, attempts: attempts, cause: cause)
    }
}
