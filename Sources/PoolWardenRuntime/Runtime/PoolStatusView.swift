/// A pool as `GET /v1/pools/{pool}` shows it.
public struct PoolStatusView: Sendable, Equatable {
    public var name: String
    /// running, paused, degraded or draining.
    public var state: String
    public var min: Int
    public var max: Int
    /// The effective limit: `max` when the settings leave it unset.
    public var maxPerCaller: Int
    public var counts: Counts
    public var totals: Totals
    /// The last connect error, password redacted; kept after recovery so operators can see it.
    public var lastError: String?
    /// One row per connection, oldest first.
    public var connections: [ConnectionView]
    /// The pool's settings with secrets removed: `password` is nil and `conninfo` is redacted.
    public var settings: PoolSettings
    /// Whether a password is configured; `settings` never carries it.
    public var passwordSet: Bool
    /// The `servers:` budget (`host:port`) the pool counts against, if any.
    public var server: String?
    /// Where the pool comes from: `config` (the file read at start) or `api` (created at runtime,
    /// gone after a restart).
    public var source: String = "config"
    /// For a pool from the config file, the keys changed at runtime (gone after a restart).
    public var drift: [String] = []

    public init(
        name: String,
        state: String,
        min: Int,
        max: Int,
        maxPerCaller: Int,
        counts: Counts,
        totals: Totals,
        lastError: String?,
        connections: [ConnectionView],
        settings: PoolSettings,
        passwordSet: Bool = false,
        server: String? = nil
    ) {
        self.name = name
        self.state = state
        self.min = min
        self.max = max
        self.maxPerCaller = maxPerCaller
        self.counts = counts
        self.totals = totals
        self.lastError = lastError
        self.connections = connections
        self.settings = settings
        self.passwordSet = passwordSet
        self.server = server
    }
}
