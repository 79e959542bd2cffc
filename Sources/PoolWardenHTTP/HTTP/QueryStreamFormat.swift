import Foundation
import OpenAPIRuntime
import PoolWardenRuntime
import PostgresLibPQ

/// How a streamed answer is written: NDJSON or CSV (see `POST /v1/pools/{pool}/query` in
/// openapi.yaml for both shapes).
enum QueryStreamFormat: Sendable {
    case ndjson
    case csv

    /// The columns, first in the stream.
    func header(_ columns: [PGColumn], into bytes: inout [UInt8]) {
        switch self {
        case .ndjson:
            bytes.append(contentsOf: #"{"columns":["#.utf8)
            for (index, column) in columns.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                bytes.append(contentsOf: #"{"name":"#.utf8)
                Self.jsonString(column.name, into: &bytes)
                bytes.append(contentsOf: #","type":"#.utf8)
                Self.jsonString(column.typeName, into: &bytes)
                bytes.append(contentsOf: #","type_oid":\#(column.typeOID)}"#.utf8)
            }
            bytes.append(contentsOf: "]}\n".utf8)
        case .csv:
            // A result without columns (a command) has no header row to write.
            guard !columns.isEmpty else { return }
            for (index, column) in columns.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                Self.csvField(Array(column.name.utf8), into: &bytes)
            }
            bytes.append(contentsOf: [0x0D, 0x0A])
        }
    }

    func row(_ values: [JSONValue], into bytes: inout [UInt8]) {
        switch self {
        case .ndjson:
            bytes.append(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                Self.json(value, into: &bytes)
            }
            bytes.append(contentsOf: "]\n".utf8)
        case .csv:
            for (index, value) in values.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                switch value {
                case .null: break
                case .string(let text): Self.csvField(Array(text.utf8), into: &bytes, quoteEmpty: true)
                default:
                    var text: [UInt8] = []
                    Self.json(value, into: &text)
                    Self.csvField(text, into: &bytes)
                }
            }
            bytes.append(contentsOf: [0x0D, 0x0A])
        }
    }

    /// The end of a stream that completed: NDJSON's trailer; CSV has none.
    func trailer(_ summary: PGQueryResult, into bytes: inout [UInt8]) {
        guard case .ndjson = self else { return }
        bytes.append(contentsOf: #"{"command_tag":"#.utf8)
        Self.jsonString(summary.command, into: &bytes)
        bytes.append(contentsOf: #","row_count":\#(summary.rowCount ?? 0)}"#.utf8)
        bytes.append(UInt8(ascii: "\n"))
    }

    /// The end of a stream that failed after its header: NDJSON's error line, with the problem
    /// document the same failure gets before the header. False for CSV, which cannot say it.
    func failure(_ error: WardenError, into bytes: inout [UInt8]) -> Bool {
        guard case .ndjson = self else { return false }
        bytes.append(contentsOf: #"{"error":"#.utf8)
        bytes.append(contentsOf: Problem.body(for: error))
        bytes.append(contentsOf: "}\n".utf8)
        return true
    }

    // MARK: Values

    /// A value as the JSON answer writes it: scalars directly, the rest (floats, arrays, json
    /// objects) through the same encoder and options the JSON answer uses, so that a value reads
    /// the same in either form.
    static func json(_ value: JSONValue, into bytes: inout [UInt8]) {
        switch value {
        case .null: bytes.append(contentsOf: "null".utf8)
        case .bool(let flag): bytes.append(contentsOf: (flag ? "true" : "false").utf8)
        case .int(let number): bytes.append(contentsOf: String(number).utf8)
        case .string(let text): jsonString(text, into: &bytes)
        case .double, .array, .object:
            let container = try? OpenAPIValueContainer(unvalidatedValue: value.sendableValue)
            if let container, let data = try? encoder.encode(container) {
                bytes.append(contentsOf: data)
            } else {
                bytes.append(contentsOf: "null".utf8)
            }
        }
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func jsonString(_ text: String, into bytes: inout [UInt8]) {
        StreamingJSONEncoder.appendString(text, to: &bytes)
    }

    /// RFC 4180: quoted when the field holds a comma, a quote, CR or LF (quotes doubled), and
    /// when it is empty but must not read as NULL (`quoteEmpty`).
    static func csvField(_ text: [UInt8], into bytes: inout [UInt8], quoteEmpty: Bool = false) {
        let needsQuotes = (quoteEmpty && text.isEmpty)
            || text.contains { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 0x0D || $0 == 0x0A }
        guard needsQuotes else {
            bytes.append(contentsOf: text)
            return
        }
        bytes.append(UInt8(ascii: "\""))
        for byte in text {
            if byte == UInt8(ascii: "\"") { bytes.append(byte) }
            bytes.append(byte)
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
