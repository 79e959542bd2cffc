import PostgresLibPQ
import Yams

extension ConfigDecoder {
    static let poolKeys = [
        "name", "conninfo", "password_env", "min", "max", "max_per_caller", "max_waiting", "lease_ttl", "borrow_timeout",
        "max_lifetime", "idle_timeout", "health_check_after", "statement_timeout", "max_statement_timeout",
        "connect_retry", "application_name_tagging", "reset", "reset_statement", "max_result_rows", "max_result_bytes", "max_statements",
        "max_stream_rows", "max_stream_bytes",
    ]
    /// Names other pool libraries (SQLAlchemy, psycopg_pool, HikariCP, PgBouncer) use for these keys.
    static let poolAliases = [
        "maxsize": "max", "poolsize": "max", "maximumpoolsize": "max", "maxconnections": "max", "maxconn": "max",
        "size": "max", "defaultpoolsize": "max",
        "minsize": "min", "minidle": "min", "minimumidle": "min", "minconnections": "min", "minpoolsize": "min",
        "dsn": "conninfo", "url": "conninfo", "uri": "conninfo", "databaseurl": "conninfo",
        "connectionstring": "conninfo", "connstr": "conninfo", "connection": "conninfo",
        "timeout": "borrow_timeout", "pooltimeout": "borrow_timeout", "connectiontimeout": "borrow_timeout",
        "waittimeout": "borrow_timeout", "wait": "borrow_timeout",
        "maxidle": "idle_timeout", "idletime": "idle_timeout", "maxidletime": "idle_timeout",
        "poolrecycle": "max_lifetime", "recycle": "max_lifetime", "maxage": "max_lifetime", "serverlifetime": "max_lifetime",
        "ttl": "lease_ttl", "leasetimeout": "lease_ttl",
        "retry": "connect_retry", "retries": "connect_retry", "reconnect": "connect_retry",
        "applicationname": "application_name_tagging", "resetquery": "reset_statement", "serverresetquery": "reset_statement",
        "maxrows": "max_result_rows", "maxbytes": "max_result_bytes",
        "maxqueue": "max_waiting", "queuesize": "max_waiting", "maxqueued": "max_waiting", "maxwaiters": "max_waiting",
    ]
    static let poolNotes = [
        "password": "a password does not go in the config file; put it in an environment variable and name that in password_env",
    ]
    static let retryKeys = ["attempts", "base_delay", "max_delay"]
    static let retryAliases = [
        "retries": "attempts", "maxattempts": "attempts", "maxretries": "attempts", "tries": "attempts",
        "delay": "base_delay", "initialdelay": "base_delay", "backoff": "base_delay", "maxbackoff": "max_delay",
    ]

    static let minRange = 0...10_000
    static let maxRange = 1...10_000
    static let maxWaitingRange = PoolSettingsRules.maxWaitingRange
    static let leaseTTLRange: ClosedRange<Duration> = .milliseconds(1) ... .seconds(86_400)
    static let borrowTimeoutRange: ClosedRange<Duration> = .zero ... .seconds(300)
    static let maxLifetimeRange: ClosedRange<Duration> = .milliseconds(1) ... .seconds(7 * 86_400)
    static let idleTimeoutRange: ClosedRange<Duration> = .milliseconds(1) ... .seconds(86_400)
    static let healthCheckAfterRange: ClosedRange<Duration> = .zero ... .seconds(86_400)
    static let statementTimeoutRange: ClosedRange<Duration> = .milliseconds(1) ... .seconds(86_400)
    static let attemptsRange = 1...100
    static let baseDelayRange: ClosedRange<Duration> = .milliseconds(1) ... .seconds(600)
    static let maxDelayRange: ClosedRange<Duration> = .milliseconds(1) ... .seconds(3600)
    static let maxResultRowsRange = 1...100_000_000
    static let maxResultBytesRange = 1...(1 << 34)
    static let maxStreamRowsRange = 1...Int(Int64.max)
    static let maxStreamBytesRange = 1...Int(Int64.max)
    static let maxStatementsRange = 1...100_000

    func decodePools(_ nodes: [Node]) -> [PoolSettings] {
        var pools: [PoolSettings] = []
        var firstIndex: [String: Int] = [:]
        for (index, node) in nodes.enumerated() {
            let path = "pools[\(index)]"
            guard let reader = MappingReader(
                node, path: path, keys: Self.poolKeys, aliases: Self.poolAliases, notes: Self.poolNotes, log: log
            ) else { continue }
            var name = ""
            if case .value(let written) = reader.string("name", required: true) {
                name = written
                if !WardenConfig.isValidPoolName(written) {
                    log.add(reader.field("name"), "\"\(written)\" is not a valid pool name; use 1 to 63 letters, digits, "
                        + "_, . or -, not starting with . or -", at: reader.value("name"))
                } else if let first = firstIndex[written] {
                    log.add(reader.field("name"), "duplicate pool name \(written) (also pools[\(first)])", at: reader.value("name"))
                } else {
                    firstIndex[written] = index
                }
            }
            var conninfo = ""
            if case .value(let written) = reader.string("conninfo", required: true) {
                conninfo = written
                if case .failure(let error) = PGConninfo.parse(written) {
                    log.add(reader.field("conninfo"), "not a valid libpq conninfo or URI: \(error.message)", at: reader.value("conninfo"))
                }
            }
            var settings = PoolSettings(name: name, conninfo: conninfo, password: secret(from: reader, key: "password_env").value)
            if settings.password != nil { settings.passwordEnv = reader.value("password_env")?.scalar?.string }
            decodeLimits(reader, into: &settings)
            decodeTimeouts(reader, into: &settings)
            if let node = reader.value("connect_retry") {
                decodeRetry(node, path: reader.field("connect_retry"), into: &settings.connectRetry)
            }
            reader.bool("application_name_tagging").store(into: &settings.applicationNameTagging)
            if case .value(let mode) = reader.string("reset") {
                if let parsed = ResetMode(rawValue: mode) {
                    settings.reset = parsed
                } else {
                    log.add(reader.field("reset"), "\"\(mode)\" is not a reset mode; use discard_all (the default) or none", at: reader.value("reset"))
                }
            }
            if case .value(let statement) = reader.string("reset_statement") { settings.resetStatement = statement }
            reader.integer("max_result_rows", in: Self.maxResultRowsRange).store(into: &settings.maxResultRows)
            reader.byteSize("max_result_bytes", in: Self.maxResultBytesRange).store(into: &settings.maxResultBytes)
            // A stream's limits may be `off`: its memory stays flat whatever its length.
            if reader.isOff("max_stream_rows") {
                settings.maxStreamRows = nil
            } else if case .value(let rows) = reader.integer("max_stream_rows", in: Self.maxStreamRowsRange) {
                settings.maxStreamRows = rows
            }
            if reader.isOff("max_stream_bytes") {
                settings.maxStreamBytes = nil
            } else if case .value(let bytes) = reader.byteSize("max_stream_bytes", in: Self.maxStreamBytesRange) {
                settings.maxStreamBytes = bytes
            }
            reader.integer("max_statements", in: Self.maxStatementsRange).store(into: &settings.maxStatements)
            pools.append(settings)
        }
        return pools
    }

    private func decodeLimits(_ reader: MappingReader, into settings: inout PoolSettings) {
        let minOK = reader.integer("min", in: Self.minRange).store(into: &settings.min)
        let maxOK = reader.integer("max", in: Self.maxRange).store(into: &settings.max)
        if minOK, maxOK, settings.min > settings.max {
            let field = reader.contains("min") ? "min" : "max"
            log.add(reader.field(field), "min (\(settings.min)) must not be greater than max (\(settings.max))", at: reader.value(field))
        }
        if case .value(let limit) = reader.integer("max_waiting", in: Self.maxWaitingRange) {
            settings.maxWaiting = limit
        }
        // Read over every integer so that the range message can name max, the bound that matters.
        guard case .value(let limit) = reader.integer("max_per_caller", in: Int.min...Int.max) else { return }
        let allowed = maxOK ? 1...settings.max : Self.maxRange
        if allowed.contains(limit) {
            settings.maxPerCaller = limit
        } else {
            let bound = maxOK ? "max (\(settings.max))" : "\(Self.maxRange.upperBound)"
            log.add(reader.field("max_per_caller"), "must be between 1 and \(bound), got \(limit)", at: reader.value("max_per_caller"))
        }
    }

    private func decodeTimeouts(_ reader: MappingReader, into settings: inout PoolSettings) {
        reader.duration("lease_ttl", in: Self.leaseTTLRange).store(into: &settings.leaseTTL)
        reader.duration("borrow_timeout", in: Self.borrowTimeoutRange).store(into: &settings.borrowTimeout)
        reader.optionalDuration("max_lifetime", in: Self.maxLifetimeRange, zeroMeansOff: true).store(into: &settings.maxLifetime)
        reader.optionalDuration("idle_timeout", in: Self.idleTimeoutRange, zeroMeansOff: true).store(into: &settings.idleTimeout)
        // As `health_check_after_ms` in the API: 0 checks every idle connection before hand-out.
        reader.optionalDuration("health_check_after", in: Self.healthCheckAfterRange, zeroMeansOff: false)
            .store(into: &settings.healthCheckAfter)
        let statementOK = reader.optionalDuration("statement_timeout", in: Self.statementTimeoutRange, zeroMeansOff: true)
            .store(into: &settings.statementTimeout)
        let maxOK = reader.duration("max_statement_timeout", in: Self.statementTimeoutRange).store(into: &settings.maxStatementTimeout)
        if statementOK, maxOK, let timeout = settings.statementTimeout, timeout > settings.maxStatementTimeout {
            let limit = ConfigDuration.format(settings.maxStatementTimeout)
            let value = ConfigDuration.format(timeout)
            if reader.contains("statement_timeout") {
                log.add(reader.field("statement_timeout"), "must not exceed max_statement_timeout (\(limit)), got \(value)",
                        at: reader.value("statement_timeout"))
            } else {
                log.add(reader.field("max_statement_timeout"), "must be at least statement_timeout (\(value), its default), got \(limit)",
                        at: reader.value("max_statement_timeout"))
            }
        }
    }

    private func decodeRetry(_ node: Node, path: String, into retry: inout ConnectRetrySettings) {
        guard let reader = MappingReader(node, path: path, keys: Self.retryKeys, aliases: Self.retryAliases, log: log) else { return }
        reader.integer("attempts", in: Self.attemptsRange).store(into: &retry.attempts)
        let baseOK = reader.duration("base_delay", in: Self.baseDelayRange).store(into: &retry.baseDelay)
        let maxOK = reader.duration("max_delay", in: Self.maxDelayRange).store(into: &retry.maxDelay)
        if baseOK, maxOK, retry.baseDelay > retry.maxDelay {
            let base = ConfigDuration.format(retry.baseDelay)
            let limit = ConfigDuration.format(retry.maxDelay)
            let field = reader.contains("base_delay") ? "base_delay" : "max_delay"
            log.add(reader.field(field), "base_delay (\(base)) must not be greater than max_delay (\(limit))", at: reader.value(field))
        }
    }
}
