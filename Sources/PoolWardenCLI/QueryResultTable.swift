import Foundation
import OpenAPIRuntime

/// A statement's result as text, in the manner of psql: an aligned table with a row count
/// footer, or the command tag alone for a statement without columns.
enum QueryResultTable {
    /// PostgreSQL types whose values read best right-aligned, by SQL name (what the service sends)
    /// and by internal name.
    private static let numericTypes: Set<String> = [
        "smallint", "integer", "bigint", "real", "double precision", "numeric", "oid", "money",
        "int2", "int4", "int8", "float4", "float8",
    ]

    /// Commands whose row count says how many rows they touched.
    private static let countingCommands: Set<String> = ["INSERT", "UPDATE", "DELETE", "MERGE", "COPY", "SELECT", "FETCH", "MOVE"]

    static func render(_ result: Components.Schemas.QueryResult) -> String {
        guard !result.columns.isEmpty else {
            return countingCommands.contains(result.command) ? "\(result.command) \(result.rowCount)" : result.command
        }
        var table = TextTable(result.columns.map { column in
            TextTable.Column(title: column.name, alignment: numericTypes.contains(column._type) ? .right : .left)
        })
        for row in result.rows { table.append(row.map(text)) }
        let footer = result.rows.count == 1 ? "(1 row)" : "(\(result.rows.count) rows)"
        return table.render() + "\n" + footer
    }

    /// One value: NULL spelled out (an empty cell would read as an empty string), strings with
    /// control characters escaped so a row stays on its line, json as compact JSON.
    static func text(_ value: OpenAPIValueContainer) -> String {
        switch value.value {
        case nil: return "NULL"
        case let string as String: return escaped(string)
        case let bool as Bool: return bool ? "true" : "false"
        case let int as Int: return String(int)
        case let double as Double: return String(double)
        default:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            guard let data = try? encoder.encode(value) else { return "?" }
            return escaped(String(decoding: data, as: UTF8.self))
        }
    }

    private static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.properties.generalCategory == .control:
                result += "\\u{" + String(scalar.value, radix: 16) + "}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
