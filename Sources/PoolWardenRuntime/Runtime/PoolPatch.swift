/// A change to a running pool (`PATCH /v1/pools/{pool}`): every field left nil stays as it is.
///
/// The settings that can be switched off (`maxLifetime`, `idleTimeout`, `healthCheckAfter`,
/// `statementTimeout`, `resetStatement`) are double optionals: the outer nil means "unchanged",
/// `.some(nil)` means "off" (JSON `null`), `.some(value)` sets a value.
///
/// Limits apply at once (growing wakes waiters and opens up to `min`; shrinking closes surplus idle
/// connections now and surplus leased ones when they come back, no lease is cut). A new conninfo or
/// password is used by every connection opened from then on; with `recycle` the existing ones are
/// recycled in the same step, so that a credential rotation replaces them.
public struct PoolPatch: Sendable, Equatable {
    public var min: Int?
    public var max: Int?
    public var maxPerCaller: Int?
    public var maxWaiting: Int?
    public var leaseTTL: Duration?
    public var borrowTimeout: Duration?
    public var maxLifetime: Duration??
    public var idleTimeout: Duration??
    public var healthCheckAfter: Duration??
    public var statementTimeout: Duration??
    public var maxStatementTimeout: Duration?
    public var conninfo: String?
    public var password: String?
    public var connectRetry: ConnectRetrySettings?
    public var applicationNameTagging: Bool?
    public var reset: ResetMode?
    public var resetStatement: String??
    public var maxResultRows: Int?
    public var maxResultBytes: Int?
    /// Recycle the pool's connections right after the change.
    public var recycle: RecycleMode?

    public init(
        min: Int? = nil,
        max: Int? = nil,
        maxPerCaller: Int? = nil,
        maxWaiting: Int? = nil,
        leaseTTL: Duration? = nil,
        borrowTimeout: Duration? = nil,
        maxLifetime: Duration?? = nil,
        idleTimeout: Duration?? = nil,
        healthCheckAfter: Duration?? = nil,
        statementTimeout: Duration?? = nil,
        maxStatementTimeout: Duration? = nil,
        conninfo: String? = nil,
        password: String? = nil,
        connectRetry: ConnectRetrySettings? = nil,
        applicationNameTagging: Bool? = nil,
        resetStatement: String?? = nil,
        maxResultRows: Int? = nil,
        maxResultBytes: Int? = nil,
        recycle: RecycleMode? = nil
    ) {
        self.min = min
        self.max = max
        self.maxPerCaller = maxPerCaller
        self.maxWaiting = maxWaiting
        self.leaseTTL = leaseTTL
        self.borrowTimeout = borrowTimeout
        self.maxLifetime = maxLifetime
        self.idleTimeout = idleTimeout
        self.healthCheckAfter = healthCheckAfter
        self.statementTimeout = statementTimeout
        self.maxStatementTimeout = maxStatementTimeout
        self.conninfo = conninfo
        self.password = password
        self.connectRetry = connectRetry
        self.applicationNameTagging = applicationNameTagging
        self.resetStatement = resetStatement
        self.maxResultRows = maxResultRows
        self.maxResultBytes = maxResultBytes
        self.recycle = recycle
    }

    /// The settings with this patch applied (not yet validated).
    public func applied(to settings: PoolSettings) -> PoolSettings {
        var settings = settings
        if let min { settings.min = min }
        if let max { settings.max = max }
        if let maxPerCaller {
            settings.maxPerCaller = maxPerCaller
        } else if let perCaller = settings.maxPerCaller, perCaller > settings.max {
            // Shrinking below the caller limit it had lowers that limit with it: no caller could
            // hold more than max anyway. One named above max is refused.
            settings.maxPerCaller = settings.max
        }
        if let maxWaiting { settings.maxWaiting = maxWaiting }
        if let leaseTTL { settings.leaseTTL = leaseTTL }
        if let borrowTimeout { settings.borrowTimeout = borrowTimeout }
        if let maxLifetime { settings.maxLifetime = maxLifetime }
        if let idleTimeout { settings.idleTimeout = idleTimeout }
        if let healthCheckAfter { settings.healthCheckAfter = healthCheckAfter }
        if let statementTimeout { settings.statementTimeout = statementTimeout }
        if let maxStatementTimeout { settings.maxStatementTimeout = maxStatementTimeout }
        if let conninfo { settings.conninfo = conninfo }
        if let password {
            settings.password = password
            // Given over the API: no environment variable holds it any more.
            settings.passwordEnv = nil
        }
        if let connectRetry { settings.connectRetry = connectRetry }
        if let applicationNameTagging { settings.applicationNameTagging = applicationNameTagging }
        if let reset { settings.reset = reset }
        if let resetStatement { settings.resetStatement = resetStatement }
        if let maxResultRows { settings.maxResultRows = maxResultRows }
        if let maxResultBytes { settings.maxResultBytes = maxResultBytes }
        return settings
    }
}
