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
        if sql.utf8.contains(0) || parameters.contains(where: { $0?.utf8.contains(0) ?? false }) {
            throw PGError(kind: .sql, message: "statement or parameter contains a NUL byte", sqlState: "22021", connectionUsable: true)
        }
        try beginOperation()
        defer { endOperation() }
        return try await withTaskCancellationHandler {
            try await run(sql, parameters, limits: limits)
        } onCancel: {
            Task { await self.cancel() }
        }
    }

    private func run(_ sql: String, _ parameters: [String?], limits: PGResultLimits) async throws -> PGQueryResult {
        let sent = PGParameters.withCStrings(parameters) { values in
            PQsendQueryParams(handle, sql, Int32(parameters.count), nil, values, nil, nil, 0)
        }
        guard sent == 1 else { throw failure(server: nil) }
        let streaming = limits != .unlimited
        if streaming { PQsetSingleRowMode(handle) }
        try await flush()

        var collector = ResultCollector(limits: limits)
        var serverError: PGError?
        var cancelSent = false
        while true {
            while PQisBusy(handle) == 1 {
                await waitForSocket(.read)
                if PQconsumeInput(handle) == 0 { throw failure(server: serverError) }
            }
            guard let result = PQgetResult(handle) else { break }
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
            default:
                // The first error wins: after an unsupported COPY the server's own complaint follows.
                if serverError == nil { serverError = PGError(result: result, secrets: secrets) }
            }
        }
        if PQstatus(handle) == CONNECTION_BAD { throw failure(server: serverError) }
        if collector.exceeded { throw collector.tooLargeError }
        if let serverError { throw serverError }
        return collector.result
    }

    /// Sends what libpq buffered, reading meanwhile so the server never blocks on a full pipe.
    private func flush() async throws {
        while true {
            let status = PQflush(handle)
            if status == 0 { return }
            if status < 0 { throw failure(server: nil) }
            await waitForSocket([.read, .write])
            if PQconsumeInput(handle) == 0 { throw failure(server: nil) }
        }
    }

    private func discardCopyOut() async throws {
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let length = PQgetCopyData(handle, &buffer, 1)
            if let buffer { PQfreemem(buffer) }
            if length > 0 { continue }
            if length == 0 {
                await waitForSocket(.read)
                if PQconsumeInput(handle) == 0 { throw failure(server: nil) }
                continue
            }
            return
        }
    }

    private func unsupported(_ message: String, usable: Bool = true) -> PGError {
        PGError(kind: .unsupported, message: message, connectionUsable: usable)
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

/// Builds a result from the PGresults of one statement, enforcing the limits as rows arrive.
private struct ResultCollector {
    let limits: PGResultLimits
    var columns: [PGColumn] = []
    var rules: [PGValueDecoder.Rule] = []
    var rows: [[JSONValue]] = []
    var bytes = 0
    var command = ""
    var rowCount: Int?
    var exceeded = false
    var described = false

    init(limits: PGResultLimits) {
        self.limits = limits
    }

    mutating func add(_ result: OpaquePointer) {
        if !described { describe(result) }
        let rowTotal = Int(PQntuples(result))
        if !exceeded {
            let fieldCount = columns.count
            rows.reserveCapacity(rows.count + rowTotal)
            for row in 0..<rowTotal {
                guard rows.count < limits.maxRows else {
                    exceeded = true
                    break
                }
                var values: [JSONValue] = []
                values.reserveCapacity(fieldCount)
                for column in 0..<fieldCount {
                    let r = Int32(row), c = Int32(column)
                    if PQgetisnull(result, r, c) == 1 {
                        values.append(.null)
                        continue
                    }
                    let length = Int(PQgetlength(result, r, c))
                    bytes += length
                    let start = UnsafeRawPointer(PQgetvalue(result, r, c)!).assumingMemoryBound(to: UInt8.self)
                    values.append(PGValueDecoder.decode(UnsafeBufferPointer(start: start, count: length), rule: rules[column]))
                }
                if bytes > limits.maxBytes {
                    exceeded = true
                    break
                }
                rows.append(values)
            }
            if exceeded { rows = [] }
        }
        if PQresultStatus(result) == PGRES_TUPLES_OK { finish(result) }
    }

    mutating func describe(_ result: OpaquePointer) {
        described = true
        let fieldCount = Int(PQnfields(result))
        columns.reserveCapacity(fieldCount)
        for column in 0..<fieldCount {
            let oid = UInt32(PQftype(result, Int32(column)))
            let name = PQfname(result, Int32(column)).map { String(cString: $0) } ?? "?column?"
            columns.append(PGColumn(name: name, typeOID: oid, typeName: PGTypeNames.name(of: oid)))
            rules.append(PGValueDecoder.rule(for: oid))
        }
    }

    mutating func finish(_ result: OpaquePointer) {
        if !described, PQnfields(result) > 0 { describe(result) }
        let tag = PQcmdStatus(result).map { String(cString: $0) } ?? ""
        command = String(tag.prefix(while: { $0 != " " }))
        let affected = PQcmdTuples(result).map { String(cString: $0) } ?? ""
        rowCount = Int(affected)
        if rowCount == nil, PQresultStatus(result) == PGRES_TUPLES_OK { rowCount = rows.count }
    }

    var result: PGQueryResult {
        PGQueryResult(command: command, rowCount: rowCount, columns: columns, rows: rows)
    }

    var tooLargeError: PGError {
        var limit: [String] = []
        if limits.maxRows != .max { limit.append("\(limits.maxRows) rows") }
        if limits.maxBytes != .max { limit.append("\(limits.maxBytes) bytes") }
        return PGError(
            kind: .resultTooLarge,
            message: "the result is larger than the limit of \(limit.joined(separator: " or "))",
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
