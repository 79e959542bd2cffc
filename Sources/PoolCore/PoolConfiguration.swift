/// Everything that shapes one pool's behaviour; the runtime builds it from the config file or a
/// `PATCH /v1/pools/{pool}` and hands it to ``PoolGroup/addPool(_:server:now:)`` or
/// ``PoolGroup/reconfigure(_:_:now:)``.
public struct PoolConfiguration: Hashable, Sendable {
    public var limits: PoolLimits
    /// A lease idle (no statement running) for this long is revoked. A borrow may ask for another ttl.
    public var leaseTTL: Duration
    /// How long a borrow waits for a connection unless it asks for another wait.
    public var borrowTimeout: Duration
    /// Connections older than this are closed when released or while idle; nil keeps them forever.
    public var maxLifetime: Duration?
    /// Each connection's lifetime is shortened by a random amount up to this, so connections opened
    /// together do not all expire together. Nil means a twentieth of `maxLifetime`.
    public var maxLifetimeJitter: Duration?
    /// Idle connections beyond `min` are closed after being idle this long; nil keeps them.
    public var idleTimeout: Duration?
    /// A connection idle longer than this is health-checked before it is handed out; nil never checks.
    public var healthCheckAfter: Duration?
    public var connectRetry: ConnectRetry
    /// While degraded, how often one probe connect is tried. Nil means `connectRetry.maxDelay`.
    public var probeInterval: Duration?

    public init(
        limits: PoolLimits = PoolLimits(),
        leaseTTL: Duration = .seconds(60),
        borrowTimeout: Duration = .seconds(5),
        maxLifetime: Duration? = .seconds(30 * 60),
        maxLifetimeJitter: Duration? = nil,
        idleTimeout: Duration? = .seconds(5 * 60),
        healthCheckAfter: Duration? = .seconds(30),
        connectRetry: ConnectRetry = ConnectRetry(),
        probeInterval: Duration? = nil
    ) {
        self.limits = limits
        self.leaseTTL = leaseTTL
        self.borrowTimeout = borrowTimeout
        self.maxLifetime = maxLifetime
        self.maxLifetimeJitter = maxLifetimeJitter
        self.idleTimeout = idleTimeout
        self.healthCheckAfter = healthCheckAfter
        self.connectRetry = connectRetry
        self.probeInterval = probeInterval
    }

    @inlinable
    var effectiveProbeInterval: Duration {
        self.probeInterval ?? self.connectRetry.maxDelay
    }

    @inlinable
    var effectiveLifetimeJitter: Duration {
        if let jitter = self.maxLifetimeJitter { return jitter }
        guard let lifetime = self.maxLifetime else { return .zero }
        return lifetime / 20
    }
}
