import PoolCore
import PostgresLibPQ

/// Everything that defines one named pool, after the config file (or a create/patch request) has
/// been read and its secrets resolved. Defaults are the ones documented in openapi/openapi.yaml.
public struct PoolSettings: Sendable, Equatable {
    public var name: String
    /// libpq conninfo or `postgresql://` URI; may carry a password, which is never shown.
    public var conninfo: String
    /// The password resolved from `password_env` (or given at runtime); overrides the conninfo's.
    public var password: String?
    /// The environment variable the config file named for the password; nil for a password set
    /// over the API (which a saved config cannot carry).
    public var passwordEnv: String?
    public var min: Int = 0
    public var max: Int = 10
    /// nil: as many as `max`.
    public var maxPerCaller: Int?
    /// Borrows that may wait at once; nil: ten per connection of `max` (``waitingLimit``).
    public var maxWaiting: Int?
    public var leaseTTL: Duration = .seconds(60)
    public var borrowTimeout: Duration = .seconds(5)
    /// nil: connections live for ever.
    public var maxLifetime: Duration? = .seconds(30 * 60)
    /// nil: idle connections are never closed for being idle.
    public var idleTimeout: Duration? = .seconds(5 * 60)
    /// How long a connection may sit idle before it is checked at hand-out; zero checks every
    /// time, nil never.
    public var healthCheckAfter: Duration? = .seconds(30)
    /// nil: statements run without a time limit.
    public var statementTimeout: Duration? = .seconds(30)
    /// The longest statement timeout a request may ask for.
    public var maxStatementTimeout: Duration = .seconds(10 * 60)
    public var connectRetry = ConnectRetrySettings()
    /// While leased, `application_name` names pool, caller and token prefix.
    public var applicationNameTagging = true
    /// What is done to a session before another caller gets it (invariant 7).
    public var reset: ResetMode = .discardAll
    /// A statement of the operator's run after the reset (after any ROLLBACK and `DISCARD ALL`).
    public var resetStatement: String?
    /// The `servers:` entry (`host:port`) the pool counts against, when named at creation; nil:
    /// the one its conninfo reaches, if any.
    public var server: String?
    public var maxResultRows = 100_000
    public var maxResultBytes = 64 << 20
    /// Bounds on a streamed answer (NDJSON, CSV), which is never held in memory whole: nil is
    /// off. Rows are off by default (a stream's memory does not grow with them); bytes, counting
    /// the values' text, default to 1 GiB so that a runaway export still ends.
    public var maxStreamRows: Int?
    public var maxStreamBytes: Int? = 1 << 30
    /// The most statements one transaction or batch request may carry.
    public var maxStatements = 1000

    public init(name: String, conninfo: String, password: String? = nil) {
        self.name = name
        self.conninfo = conninfo
        self.password = password
    }

    /// The effective `max_waiting`.
    public var waitingLimit: Int {
        maxWaiting ?? PoolLimits.defaultMaxWaiting(max: max)
    }

    /// The conninfo with every secret (password, sslpassword, ...) masked, fit for status and logs.
    public var redactedConninfo: String {
        PGRedaction.redact(conninfo: conninfo, secrets: password.map { [$0] } ?? [])
    }
}

extension PoolSettings: CustomStringConvertible {
    /// Never the password: reflection would print it.
    public var description: String {
        "pool \(name) (\(redactedConninfo), min \(min), max \(max), password \(password == nil ? "unset" : "set"))"
    }
}

/// Retry with exponential backoff and full jitter when opening a server connection.
public struct ConnectRetrySettings: Sendable, Equatable {
    public var attempts = 5
    public var baseDelay: Duration = .milliseconds(200)
    public var maxDelay: Duration = .seconds(5)

    public init(attempts: Int = 5, baseDelay: Duration = .milliseconds(200), maxDelay: Duration = .seconds(5)) {
        self.attempts = attempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }
}

/// One cap for every pool whose conninfo names this host and port (`servers:` in the config).
public struct ServerBudgetSettings: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var maxConnections: Int

    public init(host: String, port: Int = 5432, maxConnections: Int) {
        self.host = host
        self.port = port
        self.maxConnections = maxConnections
    }
}

/// How a pool cleans a session between callers.
public enum ResetMode: String, Sendable, Equatable, CaseIterable {
    /// `DISCARD ALL` (after a ROLLBACK if needed), as PgBouncer does by default: nothing of one
    /// caller's session reaches the next.
    case discardAll = "discard_all"
    /// Only an open transaction is rolled back. Whatever else a caller changed — role, settings,
    /// temp tables, prepared statements, LISTEN channels, advisory locks — the next caller gets.
    case none
}

extension PoolSettings {
    /// The config keys whose values differ between these settings and `other`, in file order:
    /// what an operator changed over the API since the config file was read. A changed password
    /// shows as `password_env` whatever its source; the value never appears.
    public func drift(from other: PoolSettings) -> [String] {
        var fields: [String] = []
        func check(_ key: String, _ differs: Bool) { if differs { fields.append(key) } }
        check("conninfo", conninfo != other.conninfo)
        check("password_env", password != other.password || passwordEnv != other.passwordEnv)
        check("min", min != other.min)
        check("max", max != other.max)
        check("max_per_caller", maxPerCaller != other.maxPerCaller)
        check("max_waiting", maxWaiting != other.maxWaiting)
        check("lease_ttl", leaseTTL != other.leaseTTL)
        check("borrow_timeout", borrowTimeout != other.borrowTimeout)
        check("max_lifetime", maxLifetime != other.maxLifetime)
        check("idle_timeout", idleTimeout != other.idleTimeout)
        check("health_check_after", healthCheckAfter != other.healthCheckAfter)
        check("statement_timeout", statementTimeout != other.statementTimeout)
        check("max_statement_timeout", maxStatementTimeout != other.maxStatementTimeout)
        check("connect_retry", connectRetry != other.connectRetry)
        check("application_name_tagging", applicationNameTagging != other.applicationNameTagging)
        check("reset", reset != other.reset)
        check("reset_statement", resetStatement != other.resetStatement)
        check("max_result_rows", maxResultRows != other.maxResultRows)
        check("max_result_bytes", maxResultBytes != other.maxResultBytes)
        check("max_stream_rows", maxStreamRows != other.maxStreamRows)
        check("max_stream_bytes", maxStreamBytes != other.maxStreamBytes)
        check("max_statements", maxStatements != other.maxStatements)
        return fields
    }
}
