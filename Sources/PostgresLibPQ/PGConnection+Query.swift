#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CLibPQ

extension PGConnection {
    /// Runs one statement with text parameters (`nil` is SQL NULL) through PQsendQueryParams and
    /// reads its results as they arrive.
    ///
    /// Throws `PGError`: `.sql` with the server's fields (the connection stays usable),
    /// `.resultTooLarge` past `limits`, `.connectionLost` when the server went away,
    /// `.connectionClosed` when `close()` cut the call off. Cancelling the task cancels the
    /// statement on the server.
    public func query(_ sql: String, _ parameters: [String?] = [], limits: PGResultLimits = .unlimited) async throws -> PGQueryResult {
        try Self.refuseNUL([PGStatement(sql, parameters)])
        return try await exclusively {
            let (outcome, _) = try await run(sql, parameters, limits: limits)
            return try outcome.get()
        }
    }

    /// Runs `body` as the connection's one operation; cancelling the task cancels whatever
    /// statement runs on the server meanwhile.
    func exclusively<T>(_ body: () async throws -> T) async throws -> T {
        try beginOperation()
        defer { endOperation() }
        return try await withTaskCancellationHandler {
            try await body()
        } onCancel: {
            Task(executorPreference: self.reactor) { await self.cancel() }
        }
    }

    /// libpq takes C strings: a NUL would cut the text short, and the server would run another
    /// statement than the one sent.
    static func refuseNUL(_ statements: [PGStatement]) throws {
        for statement in statements where statement.sql.utf8.contains(0) || statement.parameters.contains(where: { $0?.utf8.contains(0) ?? false }) {
            throw PGError(kind: .sql, message: "statement or parameter contains a NUL byte", sqlState: "22021", connectionUsable: true)
        }
    }

    /// Sends one statement outside pipeline mode and reads its outcome; a connection-level
    /// failure throws. Also answers what the result holds in memory (`PGResultCost`).
    func run(_ sql: String, _ parameters: [String?], limits: PGResultLimits) async throws -> (Result<PGQueryResult, PGError>, bytes: Int) {
        try send(sql, parameters)
        if limits != .unlimited { PQsetSingleRowMode(handle) }
        try await flush()
        let outcome = try await collect(limits: limits)
        if PQstatus(handle) == CONNECTION_BAD { throw failure(server: outcome.error) }
        return (outcome.result, outcome.bytes)
    }

    func send(_ sql: String, _ parameters: [String?]) throws {
        let sent = PGParameters.withCStrings(parameters) { values in
            PQsendQueryParams(handle, sql, Int32(parameters.count), nil, values, nil, nil, 0)
        }
        guard sent == 1 else { throw failure(server: nil) }
    }

    /// Reads the results of the statement at the head of libpq's queue up to its end (libpq's
    /// NULL result). A statement-level failure (the server's error, a passed limit, an unsupported
    /// COPY) is the outcome; a connection-level one throws.
    ///
    /// `thenSingleRow`: in pipeline mode, the next statement's results stream a row at a time.
    /// libpq allows choosing that only before anything of them is parsed, which the notification
    /// drain at the end would do.
    func collect(
        limits: PGResultLimits,
        thenSingleRow: Bool = false
    ) async throws -> (result: Result<PGQueryResult, PGError>, error: PGError?, bytes: Int) {
        defer { drainNotifications() }
        let streaming = limits != .unlimited
        var collector = ResultCollector(limits: limits)
        var serverError: PGError?
        var cancelSent = false
        while true {
            while PQisBusy(handle) == 1 {
                try await waitForSocket(.read)
                if PQconsumeInput(handle) == 0 { throw failure(server: serverError) }
                drainNotifications()
            }
            guard let result = PQgetResult(handle) else {
                if thenSingleRow { PQsetSingleRowMode(handle) }
                break
            }
            defer { PQclear(result) }
            switch PQresultStatus(result) {
            case PGRES_TUPLES_OK, PGRES_SINGLE_TUPLE:
                collector.add(result)
                if collector.exceeded, streaming, !cancelSent {
                    // Stop the server producing what will be discarded; rows already in flight are
                    // read and dropped so the connection ends up idle and usable.
                    cancelSent = true
                    await cancel()
                }
            case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
                collector.finish(result)
            case PGRES_COPY_IN:
                PQputCopyEnd(handle, "COPY FROM STDIN is not supported through this driver")
                try await flush()
                serverError = serverError ?? unsupported("COPY FROM STDIN is not supported")
            case PGRES_COPY_OUT:
                try await discardCopyOut()
                serverError = serverError ?? unsupported("COPY TO STDOUT is not supported")
            case PGRES_COPY_BOTH:
                // Replication streaming cannot be ended cleanly from here: the connection goes.
                close()
                throw unsupported("replication commands are not supported", usable: false)
            case PGRES_PIPELINE_ABORTED:
                serverError = serverError ?? PGError(
                    kind: .sql, message: "not run: an earlier statement of the pipeline failed", sqlState: "25P02", connectionUsable: true
                )
            default:
                // The first error wins: after an unsupported COPY the server's own complaint follows.
                if serverError == nil { serverError = PGError(result: result, secrets: secrets) }
            }
        }
        if collector.exceeded { return (.failure(collector.tooLargeError), serverError, collector.bytes) }
        if let serverError { return (.failure(serverError), serverError, collector.bytes) }
        return (.success(collector.result), nil, collector.bytes)
    }

    /// Sends what libpq buffered, reading meanwhile so the server never blocks on a full pipe.
    func flush() async throws {
        while true {
            let status = PQflush(handle)
            if status == 0 { return }
            if status < 0 { throw failure(server: nil) }
            try await waitForSocket([.read, .write])
            if PQconsumeInput(handle) == 0 { throw failure(server: nil) }
            drainNotifications()
        }
    }

    func discardCopyOut() async throws {
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let length = PQgetCopyData(handle, &buffer, 1)
            if let buffer { PQfreemem(buffer) }
            if length > 0 { continue }
            if length == 0 {
                try await waitForSocket(.read)
                if PQconsumeInput(handle) == 0 { throw failure(server: nil) }
                drainNotifications()
                continue
            }
            return
        }
    }

    /// A refusal of the driver's own; feature_not_supported's SQLSTATE lets callers handle it by
    /// code, as they handle the server's errors.
    private func unsupported(_ message: String, usable: Bool = true) -> PGError {
        PGError(kind: .unsupported, message: message, sqlState: "0A000", connectionUsable: usable)
    }

    /// The error for a call that failed at the connection level, keeping what the server said
    /// last (say 57P01 from pg_terminate_backend).
    func failure(server: PGError?) -> PGError {
        if closeWasRequested {
            return PGError(kind: .connectionClosed, message: "the connection was closed while the statement ran", connectionUsable: false)
        }
        if PQstatus(handle) == CONNECTION_BAD {
            var error = server ?? PGError(kind: .connectionLost, message: libpqMessage, connectionUsable: false)
            error.kind = .connectionLost
            error.connectionUsable = false
            return error
        }
        return server ?? PGError(kind: .unsupported, message: libpqMessage, connectionUsable: true)
    }

    private var libpqMessage: String {
        let text = PQerrorMessage(handle).map { String(cString: $0).trimmingTrailingNewlines } ?? ""
        return PGRedaction.redact(text.isEmpty ? "the connection failed" : text, secrets: secrets)
    }
}

extension PGError {
    /// The server's error fields from a failed result.
    init(result: OpaquePointer, secrets: [String]) {
        func field(_ code: Character) -> String? {
            guard let value = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            return String(cString: value)
        }
        let primary = field("M") ?? PQresultErrorMessage(result).map { String(cString: $0).trimmingTrailingNewlines } ?? "statement failed"
        self.init(
            kind: .sql,
            message: PGRedaction.redact(primary, secrets: secrets),
            sqlState: field("C"),
            severity: field("V") ?? field("S"),
            detail: field("D").map { PGRedaction.redact($0, secrets: secrets) },
            hint: field("H"),
            position: field("P").flatMap { Int($0) },
            connectionUsable: true
        )
    }
}

/// Parameters as libpq wants them: an array of C strings, NULL for SQL NULL.
enum PGParameters {
    static func withCStrings<R>(_ parameters: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
        if parameters.isEmpty { return body(nil) }
        let copies = parameters.map { $0.map { strdup($0) } ?? nil }
        defer { copies.forEach { free($0) } }
        let pointers = copies.map { $0.map { UnsafePointer($0) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
    }
}
