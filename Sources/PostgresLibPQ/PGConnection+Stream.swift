import CLibPQ

/// What a streamed statement hands over while it runs.
public enum PGStreamEvent: Sendable {
    /// The result's columns, before its first row (or alone, for a result without rows).
    case columns([PGColumn])
    case row([JSONValue])
}

extension PGConnection {
    /// Runs one statement in single-row mode and hands each row to `deliver` as libpq parses it.
    ///
    /// The socket is read again only once `deliver` returns, so a consumer that takes its time
    /// holds the server back through TCP instead of rows piling up here: what the call holds is
    /// one row plus libpq's input buffer, whatever the result's size. `deliver` answering false
    /// stops the statement: it is cancelled on the server and what is already in flight is read
    /// and dropped, so the connection ends idle and usable; the call then answers normally.
    /// Past `limits` (rows, or bytes of the values' text as the server sent it) likewise, and the
    /// outcome is `.resultTooLarge` after the rows within the limit were delivered.
    ///
    /// Answers the command tag and row count (`rows` is empty); throws as `query` does.
    public func stream(
        _ sql: String,
        _ parameters: [String?],
        limits: PGResultLimits,
        deliver: (PGStreamEvent) async -> Bool
    ) async throws -> PGQueryResult {
        try Self.refuseNUL([PGStatement(sql, parameters)])
        return try await exclusively {
            try send(sql, parameters)
            PQsetSingleRowMode(handle)
            try await flush()
            defer { drainNotifications() }
            var shape = ResultCollector(limits: .unlimited)
            var serverError: PGError?
            var stopped = false
            var exceeded = false
            var rows = 0
            var bytes = 0
            while true {
                while PQisBusy(handle) == 1 {
                    try await waitForSocket(.read)
                    if PQconsumeInput(handle) == 0 { throw failure(server: serverError) }
                    drainNotifications()
                }
                guard let result = PQgetResult(handle) else { break }
                defer { PQclear(result) }
                switch PQresultStatus(result) {
                case PGRES_SINGLE_TUPLE:
                    if !shape.described {
                        shape.describe(result)
                        if !(await deliver(.columns(shape.columns))) { stopped = true }
                    }
                    if stopped || exceeded { continue }
                    rows += 1
                    var values: [JSONValue] = []
                    values.reserveCapacity(shape.columns.count)
                    for column in 0..<shape.columns.count {
                        let c = Int32(column)
                        if PQgetisnull(result, 0, c) == 1 {
                            values.append(.null)
                            continue
                        }
                        let length = Int(PQgetlength(result, 0, c))
                        bytes += length
                        let start = UnsafeRawPointer(PQgetvalue(result, 0, c)!).assumingMemoryBound(to: UInt8.self)
                        values.append(PGValueDecoder.decode(UnsafeBufferPointer(start: start, count: length), rule: shape.rules[column]))
                    }
                    if rows > limits.maxRows || bytes > limits.maxBytes {
                        exceeded = true
                    } else if !(await deliver(.row(values))) {
                        stopped = true
                    }
                    // The server would go on producing what is now discarded: it is told to stop,
                    // and the rows already in flight are read and dropped.
                    if stopped || exceeded { await cancel() }
                case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
                    if !shape.described, PQnfields(result) > 0, !stopped, !exceeded {
                        shape.describe(result)
                        if !(await deliver(.columns(shape.columns))) { stopped = true }
                    }
                    shape.finish(result)
                case PGRES_COPY_IN:
                    PQputCopyEnd(handle, "COPY FROM STDIN is not supported through this driver")
                    try await flush()
                    serverError = serverError ?? PGError(kind: .unsupported, message: "COPY FROM STDIN is not supported", sqlState: "0A000", connectionUsable: true)
                case PGRES_COPY_OUT:
                    try await discardCopyOut()
                    serverError = serverError ?? PGError(kind: .unsupported, message: "COPY TO STDOUT is not supported", sqlState: "0A000", connectionUsable: true)
                default:
                    // COPY has no place in a stream of rows, and a cancelled statement's 57014 is
                    // the expected end of a stop, not news for the caller.
                    if PQresultStatus(result) == PGRES_COPY_BOTH {
                        close()
                        throw PGError(kind: .unsupported, message: "replication commands are not supported", sqlState: "0A000", connectionUsable: false)
                    }
                    if serverError == nil { serverError = PGError(result: result, secrets: secrets) }
                }
            }
            if PQstatus(handle) == CONNECTION_BAD { throw failure(server: serverError) }
            if exceeded {
                var limit: [String] = []
                if limits.maxRows != .max { limit.append("\(limits.maxRows) rows") }
                if limits.maxBytes != .max { limit.append("\(limits.maxBytes) bytes of values") }
                throw PGError(
                    kind: .resultTooLarge,
                    message: "the stream is longer than the limit of \(limit.joined(separator: " or "))",
                    connectionUsable: true
                )
            }
            if let serverError, !stopped { throw serverError }
            return PGQueryResult(command: shape.command, rowCount: shape.rowCount ?? rows, columns: shape.columns, rows: [])
        }
    }
}
