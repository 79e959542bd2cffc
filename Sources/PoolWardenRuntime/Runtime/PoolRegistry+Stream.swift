import PostgresLibPQ

extension PoolRegistry {
    /// A single shot whose rows are handed to `deliver` as they arrive instead of being collected:
    /// borrows (waiting up to `wait`), runs the statement in single-row mode, and releases.
    ///
    /// `deliver` gets each event with the statement's deadline (nil: no time limit) and answers
    /// whether to go on; it is where the reader's pace reaches the socket, so it should return
    /// only once the reader wants more, and false when the reader is gone or the deadline passed.
    /// A stop cancels the statement on the server; the release then resets the session (or
    /// closes a connection that cannot be reset), so nothing waits on the reader.
    ///
    /// Held to the pool's `max_stream_rows` and `max_stream_bytes` (`resultTooLarge`, after the
    /// rows within them) and to the statement timeout, as a collected single shot is. Answers the
    /// command tag and row count; throws as `queryOnce` does.
    package func streamOnce(
        pool: String,
        caller: CallerIdentity,
        sql: String,
        parameters: [String?],
        timeout: Duration?,
        wait: Duration?,
        hangUp: ClientHangUp?,
        deliver: @escaping @Sendable (PGStreamEvent, ContinuousClock.Instant?) async -> Bool
    ) async throws(WardenError) -> PGQueryResult {
        try Self.requirePositive(timeout)
        logger.trace("streamed statement", metadata: ["pool": "\(pool)", "sql": "\(sql)"])
        return try await once(pool: pool, caller: caller, wait: wait, hangUp: hangUp) { token throws(WardenError) in
            // No reset rides along in the same round trip (a pipeline cannot stream a row at a
            // time here): the release resets the session the usual way.
            try await stream(token: token, caller: caller, sql: sql, parameters: parameters, timeout: timeout, deliver: deliver)
        }
    }

    /// A statement on a lease whose rows go to `deliver` as they arrive (see `streamOnce`). A
    /// stop cancels the statement and leaves the lease usable, as a timeout does; the session is
    /// the lease's, so nothing resets it.
    package func stream(
        token: String,
        caller: CallerIdentity,
        sql: String,
        parameters: [String?],
        timeout: Duration?,
        deliver: @escaping @Sendable (PGStreamEvent, ContinuousClock.Instant?) async -> Bool
    ) async throws(WardenError) -> PGQueryResult {
        try await onLease(token: token, caller: caller, timeout: timeout, statements: 1, resetAfter: false) { pg, job in
            let deadline = job.deadline
            let summary = try await pg.stream(sql, parameters, limits: job.streamLimits) { event in
                await deliver(event, deadline)
            }
            return (summary, false)
        }.value
    }
}
