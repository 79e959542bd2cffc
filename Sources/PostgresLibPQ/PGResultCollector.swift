import CLibPQ

/// Builds a result from the PGresults of one statement, enforcing the limits as rows arrive;
/// `bytes` is what the result holds in memory as `PGResultCost` counts it.
struct ResultCollector {
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
            // Single-row mode delivers one row at a time: reserving one more each time would
            // reallocate the array on every row, where appending grows it geometrically.
            if rowTotal > 1 { rows.reserveCapacity(rows.count + rowTotal) }
            for row in 0..<rowTotal {
                guard rows.count < limits.maxRows else {
                    exceeded = true
                    break
                }
                bytes += PGResultCost.row
                var values: [JSONValue] = []
                values.reserveCapacity(fieldCount)
                for column in 0..<fieldCount {
                    let r = Int32(row), c = Int32(column)
                    if PQgetisnull(result, r, c) == 1 {
                        bytes += PGResultCost.value
                        values.append(.null)
                    } else {
                        // Counted before decoding, so that a value past the limit is never copied.
                        let length = Int(PQgetlength(result, r, c))
                        bytes += PGResultCost.text(length)
                        guard bytes <= limits.maxBytes else { break }
                        let start = UnsafeRawPointer(PQgetvalue(result, r, c)!).assumingMemoryBound(to: UInt8.self)
                        let value = PGValueDecoder.decode(UnsafeBufferPointer(start: start, count: length), rule: rules[column])
                        if rules[column] == .json { bytes += max(0, PGResultCost.tree(value) - PGResultCost.string(length)) }
                        values.append(value)
                    }
                    if bytes > limits.maxBytes { break }
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
            let typeName = PGTypeNames.name(of: oid)
            columns.append(PGColumn(name: name, typeOID: oid, typeName: typeName))
            rules.append(PGValueDecoder.rule(for: oid))
            bytes += PGResultCost.column(nameLength: name.utf8.count, typeNameLength: typeName.utf8.count)
        }
        if bytes > limits.maxBytes { exceeded = true }
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

    var tooLargeError: PGError { tooLargeError(together: false) }

    /// `together`: the limit held the results of several statements at once.
    func tooLargeError(together: Bool) -> PGError {
        var limit: [String] = []
        if limits.maxRows != .max { limit.append("\(limits.maxRows) rows") }
        if limits.maxBytes != .max { limit.append("\(limits.maxBytes) bytes in memory") }
        return PGError(
            kind: .resultTooLarge,
            message: "\(together ? "the statements' results together are" : "the result is") larger than the limit of \(limit.joined(separator: " or "))",
            connectionUsable: true
        )
    }
}
