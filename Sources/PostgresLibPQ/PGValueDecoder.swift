/// Turns PostgreSQL's text output for one column into JSON values, choosing the rule once per
/// column by type OID.
enum PGValueDecoder {
    enum Rule {
        case integer
        case bigint
        case float
        case bool
        case json
        case text
    }

    static func rule(for oid: UInt32) -> Rule {
        switch oid {
        case 21, 23, 26: return .integer  // int2, int4, oid
        case 20: return .bigint
        case 700, 701: return .float
        case 16: return .bool
        case 114, 3802: return .json
        default: return .text
        }
    }

    /// Largest magnitude a JSON number carries exactly in a double (2^53).
    static let exactIntegerLimit: Int64 = 1 << 53

    static func decode(_ bytes: UnsafeBufferPointer<UInt8>, rule: Rule) -> JSONValue {
        switch rule {
        case .integer:
            if let value = parseInt64(bytes) { return .int(value) }
        case .bigint:
            if let value = parseInt64(bytes), value >= -exactIntegerLimit, value <= exactIntegerLimit {
                return .int(value)
            }
        case .float:
            if let value = Double(String(decoding: bytes, as: UTF8.self)), value.isFinite {
                return .double(value)
            }
        case .bool:
            if bytes.count == 1 { return .bool(bytes[0] == UInt8(ascii: "t")) }
        case .json:
            if let value = try? JSONParser.parse(bytes) { return value }
        case .text:
            break
        }
        return .string(String(decoding: bytes, as: UTF8.self))
    }

    private static func parseInt64(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard !bytes.isEmpty, bytes.count <= 20 else { return nil }
        var index = 0
        var negative = false
        if bytes[0] == UInt8(ascii: "-") {
            negative = true
            index = 1
            guard bytes.count > 1 else { return nil }
        }
        var value: Int64 = 0
        while index < bytes.count {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = negative
                ? shifted.subtractingReportingOverflow(Int64(digit))
                : shifted.addingReportingOverflow(Int64(digit))
            guard !overflow1, !overflow2 else { return nil }
            value = next
            index += 1
        }
        return value
    }
}
