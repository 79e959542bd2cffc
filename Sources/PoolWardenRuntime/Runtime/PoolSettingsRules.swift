import PoolCore
import PostgresLibPQ

/// What the runtime accepts as pool settings, and how they become PoolCore's configuration.
package enum PoolSettingsRules {
    /// The longest a borrow may wait, whatever it asks for.
    static let maxWait: Duration = .seconds(5 * 60)
    /// `max_waiting` as the config file and the API accept it; its default, ten per connection,
    /// stays within it for every `max` allowed.
    package static let maxWaitingRange = 1...100_000

    /// Throws `invalidRequest` naming the first field (as the API spells it) that cannot be used.
    /// The limits follow the config file's rules, in its words, so that a pool the file would
    /// refuse cannot be made by `POST` or `PATCH` either.
    static func validate(_ settings: PoolSettings) throws(WardenError) {
        try validateName(settings.name)
        if case .failure(let error) = PGConninfo.parse(settings.conninfo) {
            throw .invalidRequest("conninfo cannot be parsed: \(error.message)", field: "conninfo")
        }
        try require(settings.max >= 1, "max must be at least 1", field: "max")
        try require(settings.min >= 0, "min must not be negative", field: "min")
        try require(settings.min <= settings.max, "min (\(settings.min)) must not be greater than max (\(settings.max))", field: "min")
        if let maxPerCaller = settings.maxPerCaller {
            try require(
                (1...settings.max).contains(maxPerCaller),
                "max_per_caller must be between 1 and max (\(settings.max)), got \(maxPerCaller)",
                field: "max_per_caller"
            )
        }
        if let maxWaiting = settings.maxWaiting {
            try require(
                maxWaitingRange.contains(maxWaiting),
                "max_waiting must be between \(maxWaitingRange.lowerBound) and \(maxWaitingRange.upperBound), got \(maxWaiting)",
                field: "max_waiting"
            )
        }
        try positive(settings.leaseTTL, field: "lease_ttl_ms")
        try require(settings.borrowTimeout >= .zero, "borrow_timeout_ms must not be negative", field: "borrow_timeout_ms")
        if let value = settings.maxLifetime { try positive(value, field: "max_lifetime_ms") }
        if let value = settings.idleTimeout { try positive(value, field: "idle_timeout_ms") }
        if let value = settings.healthCheckAfter {
            try require(value >= .zero, "health_check_after_ms must not be negative", field: "health_check_after_ms")
        }
        if let value = settings.statementTimeout { try positive(value, field: "statement_timeout_ms") }
        try positive(settings.maxStatementTimeout, field: "max_statement_timeout_ms")
        let retry = settings.connectRetry
        try require(retry.attempts >= 1, "connect_retry.attempts must be at least 1", field: "connect_retry.attempts")
        try require(retry.baseDelay >= .zero, "connect_retry.base_delay must not be negative", field: "connect_retry.base_delay")
        try require(retry.maxDelay >= .zero, "connect_retry.max_delay must not be negative", field: "connect_retry.max_delay")
        try require(settings.maxResultRows >= 1, "max_result_rows must be at least 1", field: "max_result_rows")
        try require(settings.maxResultBytes >= 1, "max_result_bytes must be at least 1", field: "max_result_bytes")
        try require((settings.maxStreamRows ?? 1) >= 1, "max_stream_rows must be at least 1", field: "max_stream_rows")
        try require((settings.maxStreamBytes ?? 1) >= 1, "max_stream_bytes must be at least 1", field: "max_stream_bytes")
        try require(settings.maxStatements >= 1, "max_statements must be at least 1", field: "max_statements")
        if let statement = settings.resetStatement {
            try require(!statement.allSatisfy(\.isWhitespace), "reset_statement must not be empty", field: "reset_statement")
        }
    }

    /// Pool names travel in URLs, metric labels and application_name.
    static func validateName(_ name: String) throws(WardenError) {
        let utf8 = Array(name.utf8)
        let allowed = utf8.allSatisfy { byte in
            (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
                || byte == 0x2D || byte == 0x5F || byte == 0x2E
        }
        guard !utf8.isEmpty, utf8.count <= 63, allowed, utf8[0] != 0x2D, utf8[0] != 0x2E else {
            throw .invalidRequest(
                "a pool name is 1 to 63 letters, digits, '-', '_' or '.', starting with a letter, digit or '_'",
                field: "name"
            )
        }
    }

    static func configuration(_ settings: PoolSettings) -> PoolConfiguration {
        PoolConfiguration(
            limits: PoolLimits(min: settings.min, max: settings.max, maxPerCaller: settings.maxPerCaller, maxWaiting: settings.waitingLimit),
            leaseTTL: settings.leaseTTL,
            borrowTimeout: Swift.min(settings.borrowTimeout, maxWait),
            maxLifetime: settings.maxLifetime,
            idleTimeout: settings.idleTimeout,
            healthCheckAfter: settings.healthCheckAfter,
            connectRetry: ConnectRetry(
                attempts: settings.connectRetry.attempts,
                baseDelay: settings.connectRetry.baseDelay,
                maxDelay: settings.connectRetry.maxDelay
            )
        )
    }

    /// The statement timeout of one query: the request's, capped at the pool's maximum, else the
    /// pool's default.
    static func statementTimeout(requested: Duration?, _ settings: PoolSettings) throws(WardenError) -> Duration? {
        guard let requested else { return settings.statementTimeout }
        try positive(requested, field: "timeout_ms")
        return Swift.min(requested, settings.maxStatementTimeout)
    }

    /// A transaction or batch carries 1 to the pool's `max_statements` statements.
    static func statementCount(_ count: Int, _ settings: PoolSettings) throws(WardenError) {
        try require(count >= 1, "statements must not be empty", field: "statements")
        try require(
            count <= settings.maxStatements,
            "at most \(settings.maxStatements) statements per request (the pool's max_statements), got \(count)",
            field: "statements"
        )
    }

    private static func positive(_ value: Duration, field: String) throws(WardenError) {
        try require(value > .zero, "\(field) must be positive", field: field)
    }

    private static func require(_ condition: Bool, _ message: String, field: String) throws(WardenError) {
        if !condition { throw .invalidRequest(message, field: field) }
    }
}
