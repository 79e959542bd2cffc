import PoolWardenRuntime
import PostgresLibPQ

/// Create and patch requests from the wire into `PoolSettings` and `PoolPatch`, checking every
/// bound openapi.yaml states.
enum PoolRequestMapping {
    static func settings(from request: Components.Schemas.CreatePoolRequest) throws(WardenError) -> PoolSettings {
        var settings = PoolSettings(
            name: try RequestValidation.poolName(request.name),
            conninfo: try conninfo(request.conninfo),
            password: try request.password.map { (value: String) throws(WardenError) -> String in try RequestValidation.noNUL(value, field: "password", maxLength: 1024, allowEmpty: true) }
        )
        if let min = request.min { settings.min = try RequestValidation.integer(min, field: "min", minimum: 0, maximum: 10_000) }
        if let max = request.max { settings.max = try RequestValidation.integer(max, field: "max", minimum: 1, maximum: 10_000) }
        if let perCaller = request.maxPerCaller {
            settings.maxPerCaller = try RequestValidation.integer(perCaller, field: "max_per_caller", minimum: 1, maximum: 10_000)
        }
        if let maxWaiting = request.maxWaiting { settings.maxWaiting = try self.maxWaiting(maxWaiting) }
        guard settings.min <= settings.max else {
            throw .invalidRequest("min (\(settings.min)) must not be greater than max (\(settings.max))", field: "min")
        }
        if let ms = request.leaseTtlMs { settings.leaseTTL = try RequestValidation.duration(ms, field: "lease_ttl_ms") }
        if let ms = request.borrowTimeoutMs { settings.borrowTimeout = try RequestValidation.duration(ms, field: "borrow_timeout_ms", allowZero: true, maximum: 300_000) }
        if let ms = request.maxLifetimeMs { settings.maxLifetime = try RequestValidation.optionalDuration(ms, field: "max_lifetime_ms", maximum: 604_800_000) }
        if let ms = request.idleTimeoutMs { settings.idleTimeout = try RequestValidation.optionalDuration(ms, field: "idle_timeout_ms") }
        if let ms = request.healthCheckAfterMs { settings.healthCheckAfter = try RequestValidation.duration(ms, field: "health_check_after_ms", allowZero: true) }
        if let ms = request.statementTimeoutMs { settings.statementTimeout = try RequestValidation.optionalDuration(ms, field: "statement_timeout_ms") }
        if let retry = request.connectRetry { settings.connectRetry = try connectRetry(retry) }
        if let tagging = request.applicationNameTagging { settings.applicationNameTagging = tagging }
        if let reset = request.reset { settings.reset = ResetMode(reset) }
        if let server = request.server { settings.server = try RequestValidation.noNUL(server, field: "server", maxLength: 300) }
        if let statement = request.resetStatement { settings.resetStatement = try resetStatement(statement) }
        return settings
    }

    static func patch(from request: Components.Schemas.UpdatePoolRequest) throws(WardenError) -> PoolPatch {
        var patch = PoolPatch()
        patch.min = try request.min.map { (value: Int) throws(WardenError) -> Int in try RequestValidation.integer(value, field: "min", minimum: 0, maximum: 10_000) }
        patch.max = try request.max.map { (value: Int) throws(WardenError) -> Int in try RequestValidation.integer(value, field: "max", minimum: 1, maximum: 10_000) }
        patch.maxPerCaller = try request.maxPerCaller.map { (value: Int) throws(WardenError) -> Int in
            try RequestValidation.integer(value, field: "max_per_caller", minimum: 1, maximum: 10_000)
        }
        patch.maxWaiting = try request.maxWaiting.map { (value: Int) throws(WardenError) -> Int in try maxWaiting(value) }
        if let min = patch.min, let max = patch.max, min > max {
            throw .invalidRequest("min (\(min)) must not be greater than max (\(max))", field: "min")
        }
        if let ms = request.leaseTtlMs { patch.leaseTTL = try RequestValidation.duration(ms, field: "lease_ttl_ms") }
        if let ms = request.borrowTimeoutMs { patch.borrowTimeout = try RequestValidation.duration(ms, field: "borrow_timeout_ms", allowZero: true, maximum: 300_000) }
        if let ms = request.maxLifetimeMs { patch.maxLifetime = .some(try RequestValidation.optionalDuration(ms, field: "max_lifetime_ms", maximum: 604_800_000)) }
        if let ms = request.idleTimeoutMs { patch.idleTimeout = .some(try RequestValidation.optionalDuration(ms, field: "idle_timeout_ms")) }
        if let ms = request.healthCheckAfterMs { patch.healthCheckAfter = .some(try RequestValidation.duration(ms, field: "health_check_after_ms", allowZero: true)) }
        if let ms = request.statementTimeoutMs { patch.statementTimeout = .some(try RequestValidation.optionalDuration(ms, field: "statement_timeout_ms")) }
        if let retry = request.connectRetry { patch.connectRetry = try connectRetry(retry) }
        patch.applicationNameTagging = request.applicationNameTagging
        patch.reset = request.reset.map(ResetMode.init)
        if let statement = request.resetStatement { patch.resetStatement = .some(try resetStatement(statement)) }
        if let value = request.conninfo { patch.conninfo = try conninfo(value) }
        if let value = request.password { patch.password = try RequestValidation.noNUL(value, field: "password", maxLength: 1024, allowEmpty: true) }
        if let mode = request.recycle { patch.recycle = mode == .immediate ? .immediate : .graceful }
        return patch
    }

    private static func maxWaiting(_ value: Int) throws(WardenError) -> Int {
        let range = PoolSettingsRules.maxWaitingRange
        return try RequestValidation.integer(value, field: "max_waiting", minimum: range.lowerBound, maximum: range.upperBound)
    }

    /// An empty statement switches the extra reset statement off.
    private static func resetStatement(_ value: String) throws(WardenError) -> String? {
        let text = try RequestValidation.noNUL(value, field: "reset_statement", maxLength: 4096, allowEmpty: true)
        return text.isEmpty ? nil : text
    }

    private static func conninfo(_ value: String) throws(WardenError) -> String {
        let text = try RequestValidation.noNUL(value, field: "conninfo", maxLength: 4096)
        if case .failure(let error) = PGConninfo.parse(text) {
            throw .invalidRequest("conninfo: \(error.message)", field: "conninfo")
        }
        return text
    }

    private static func connectRetry(_ retry: Components.Schemas.ConnectRetry) throws(WardenError) -> ConnectRetrySettings {
        let attempts = try RequestValidation.integer(retry.attempts, field: "connect_retry.attempts", minimum: 1, maximum: 100)
        let base = try RequestValidation.duration(retry.baseDelayMs, field: "connect_retry.base_delay_ms", maximum: 600_000)
        let max = try RequestValidation.duration(retry.maxDelayMs, field: "connect_retry.max_delay_ms", maximum: 3_600_000)
        guard base <= max else { throw .invalidRequest("connect_retry.base_delay_ms must not exceed max_delay_ms", field: "connect_retry") }
        return ConnectRetrySettings(attempts: attempts, baseDelay: base, maxDelay: max)
    }
}

extension ResetMode {
    init(_ wire: Components.Schemas.ResetMode) {
        self = switch wire {
        case .discardAll: .discardAll
        case .none: ResetMode.none
        }
    }
}
