import Logging

/// The service's whole configuration, as read from the config file with its secrets resolved and
/// every value checked (see ``ConfigLoader``).
public struct WardenConfig: Sendable, Equatable {
    public static let defaultShutdownGrace: Duration = .seconds(10)
    public static let defaultMaxBodyBytes = 1 << 20
    public static let defaultRequestTimeout: Duration = .seconds(10)
    public static let defaultMaxClientConnections = 10_000

    public var listen: ListenAddress
    /// nil: plain HTTP (a mesh or an ingress may terminate TLS in front).
    public var tls: ListenTLS?
    /// Empty: no authentication, every request acts as ``CallerIdentity/anonymousAdmin``, and the
    /// service must listen on loopback only.
    public var callers: [CallerConfig]
    /// The pools opened at start, in file order.
    public var pools: [PoolSettings]
    public var servers: [ServerBudgetSettings]
    /// How long in-flight requests may run on after SIGTERM before connections are closed.
    public var shutdownGrace: Duration
    public var maxBodyBytes: Int
    public var logLevel: Logger.Level
    /// How long an HTTP client has to send a whole request (header and body), counted from its
    /// connect or from the end of the previous answer on its connection; an idle keep-alive
    /// connection is closed after as long. A request being answered — a borrow waiting, a
    /// statement running — is never cut by it.
    public var requestTimeout: Duration
    /// Client connections open at once; one more is closed as soon as it is accepted.
    public var maxClientConnections: Int
    /// nil: a single service, as before replicas existed.
    public var cluster: ClusterSettings?

    public init(
        listen: ListenAddress = ListenAddress(),
        callers: [CallerConfig] = [],
        pools: [PoolSettings] = [],
        servers: [ServerBudgetSettings] = [],
        shutdownGrace: Duration = WardenConfig.defaultShutdownGrace,
        maxBodyBytes: Int = WardenConfig.defaultMaxBodyBytes,
        logLevel: Logger.Level = .info,
        requestTimeout: Duration = WardenConfig.defaultRequestTimeout,
        maxClientConnections: Int = WardenConfig.defaultMaxClientConnections,
        tls: ListenTLS? = nil,
        cluster: ClusterSettings? = nil
    ) {
        self.cluster = cluster
        self.listen = listen
        self.tls = tls
        self.callers = callers
        self.pools = pools
        self.servers = servers
        self.shutdownGrace = shutdownGrace
        self.maxBodyBytes = maxBodyBytes
        self.logLevel = logLevel
        self.requestTimeout = requestTimeout
        self.maxClientConnections = maxClientConnections
    }

    /// With no callers there is no authentication, so only this machine may reach the service.
    public var requiresLoopback: Bool { callers.isEmpty }

    /// Whether `name` may name a pool: `^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$`, the rule of the config
    /// file and of `POST /v1/pools`.
    public static func isValidPoolName(_ name: String) -> Bool {
        ConfigText.isValidName(name)
    }
}
