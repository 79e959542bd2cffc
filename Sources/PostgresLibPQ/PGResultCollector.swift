import CLibPQ

/// Builds a result from the PGresults of one statement, enforcing the limits as rows arrive.
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
