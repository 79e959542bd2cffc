import OpenAPIRuntime
import PoolWardenRuntime
import PostgresLibPQ

/// Bounds that openapi.yaml states and the generated decoder does not enforce (minimum, maximum,
/// pattern, length), checked here so that bad input is a 400 naming its field.
enum RequestValidation {
    static let dayMilliseconds = 86_400_000

    /// A positive duration in milliseconds (or zero where the field allows it).
    static func duration(_ milliseconds: Int, field: String, allowZero: Bool = false, maximum: Int = dayMilliseconds) throws(WardenError) -> Duration {
        let minimum = allowZero ? 0 : 1
        guard milliseconds >= minimum, milliseconds <= maximum else {
            throw .invalidRequest("\(field) must be between \(minimum) and \(maximum), got \(milliseconds)", field: field)
        }
        return .milliseconds(milliseconds)
    }

    /// A duration where 0 means "off".
    static func optionalDuration(_ milliseconds: Int, field: String, maximum: Int = dayMilliseconds) throws(WardenError) -> Duration? {
        let value = try duration(milliseconds, field: field, allowZero: true, maximum: maximum)
        return milliseconds == 0 ? nil : value
    }

    static func integer(_ value: Int, field: String, minimum: Int, maximum: Int) throws(WardenError) -> Int {
        guard value >= minimum, value <= maximum else {
            throw .invalidRequest("\(field) must be between \(minimum) and \(maximum), got \(value)", field: field)
        }
        return value
    }

    /// Text without control characters (keys, names).
    static func text(_ value: String, field: String, maxLength: Int) throws(WardenError) -> String {
        guard !value.isEmpty, value.count <= maxLength else {
            throw .invalidRequest("\(field) must be 1 to \(maxLength) characters", field: field)
        }
        guard !value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw .invalidRequest("\(field) must not contain control characters", field: field)
        }
        return value
    }

    /// Text that may hold anything but NUL (SQL, conninfo, passwords): libpq takes C strings.
    static func noNUL(_ value: String, field: String, maxLength: Int, allowEmpty: Bool = false) throws(WardenError) -> String {
        guard allowEmpty || !value.isEmpty else { throw .invalidRequest("\(field) must not be empty", field: field) }
        guard value.utf8.count <= maxLength else { throw .invalidRequest("\(field) is longer than \(maxLength) bytes", field: field) }
        guard !value.utf8.contains(0) else { throw .invalidRequest("\(field) must not contain NUL bytes", field: field) }
        return value
    }

    static func poolName(_ name: String) throws(WardenError) -> String {
        guard WardenConfig.isValidPoolName(name) else {
            throw .invalidRequest("name must match ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$", field: "name")
        }
        return name
    }

    /// A statement ready for the registry: SQL, text parameters, optional timeout.
    struct Statement {
        var sql: String
        var parameters: [String?]
        var timeout: Duration?
        /// Single shots: how long to wait for a connection.
        var wait: Duration?
    }

    static func statement(_ request: Components.Schemas.QueryRequest) throws(WardenError) -> Statement {
        let (sql, parameters) = try sqlAndParameters(request.sql, request.params, field: "")
        let timeout = try request.timeoutMs.map { (ms: Int) throws(WardenError) -> Duration in try duration(ms, field: "timeout_ms") }
        let wait = try request.waitMs.map { (ms: Int) throws(WardenError) -> Duration in try waitDuration(ms) }
        return Statement(sql: sql, parameters: parameters, timeout: timeout, wait: wait)
    }

    /// A transaction's or batch's statements: 1 to 100,000 of them (the pool's `max_statements`
    /// is checked by the registry), each as a single statement is checked, faults named by
    /// their place (`statements[2].params[0]`).
    static func statements(_ list: [Components.Schemas.Statement]) throws(WardenError) -> [PGStatement] {
        guard !list.isEmpty else { throw .invalidRequest("statements must not be empty", field: "statements") }
        guard list.count <= 100_000 else { throw .invalidRequest("at most 100000 statements", field: "statements") }
        var statements: [PGStatement] = []
        statements.reserveCapacity(list.count)
        for (index, statement) in list.enumerated() {
            let (sql, parameters) = try sqlAndParameters(statement.sql, statement.params, field: "statements[\(index)].")
            statements.append(PGStatement(sql, parameters))
        }
        return statements
    }

    static func waitDuration(_ milliseconds: Int) throws(WardenError) -> Duration {
        try duration(milliseconds, field: "wait_ms", allowZero: true, maximum: 300_000)
    }

    /// `prefix` places the fields in the request (`statements[2].`).
    private static func sqlAndParameters(
        _ sql: String,
        _ params: [OpenAPIValueContainer]?,
        field prefix: String
    ) throws(WardenError) -> (String, [String?]) {
        let sql = try noNUL(sql, field: prefix + "sql", maxLength: 1 << 20)
        guard !sql.allSatisfy(\.isWhitespace) else { throw .invalidRequest("\(prefix)sql must not be blank", field: prefix + "sql") }
        let params = params ?? []
        guard params.count <= 65_535 else { throw .invalidRequest("at most 65535 params", field: prefix + "params") }
        var parameters: [String?] = []
        parameters.reserveCapacity(params.count)
        for (index, param) in params.enumerated() {
            parameters.append(try parameter(param, field: "\(prefix)params[\(index)]"))
        }
        return (sql, parameters)
    }

    /// A JSON scalar as PostgreSQL's text input: strings as they are, numbers as JSON spells
    /// them, booleans as true/false, null as SQL NULL.
    static func parameter(_ param: OpenAPIValueContainer, field: String) throws(WardenError) -> String? {
        switch param.value {
        case nil: return nil
        case let value as String: return try noNUL(value, field: field, maxLength: 1 << 20, allowEmpty: true)
        case let value as Bool: return value ? "true" : "false"
        case let value as Int: return String(value)
        case let value as Double:
            guard value.isFinite else { throw .invalidRequest("\(field) must be a finite number", field: field) }
            return value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
        default:
            throw .invalidRequest("\(field) must be a string, number, boolean or null; send arrays and objects as JSON text", field: field)
        }
    }
}
