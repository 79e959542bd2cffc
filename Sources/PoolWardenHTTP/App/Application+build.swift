import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import OpenAPIHummingbird
import OpenAPIRuntime
import PoolWardenCluster
import PoolWardenRuntime
import ServiceLifecycle

/// The version `/healthz` reports.
public let poolWardenVersion = "0.1.0"

/// Builds the whole service from a validated configuration: the pool registry, the generated
/// routes over `APIHandler`, auth and problem middlewares, and HTTPS when `listen.tls` is set.
/// Kept apart from `@main` so that tests run the real application.
///
/// - Parameters:
///   - reloadSource: the file the configuration came from, read again by every reload; nil (a
///     configuration built in memory) makes `POST /v1/reload` answer 409 `reload_unavailable`.
///   - reloadParticipants: what a reload reconfigures beside the pools and callers (a TLS
///     certificate, say), each checked before anything changes and then committed, in this order
///     (see ``ReloadParticipant``).
///   - reloadOnHangUp: SIGHUP reloads too, for as long as the application runs (`serve`; not for
///     tests, which share one process).
///   - tls: the listener's TLS when the caller keeps it; nil makes it from `listen.tls`. Either
///     way a reload reads its files again (it is a participant, after the callers).
public func buildApplication(
    configuration: WardenConfig,
    reloadSource: ConfigSource? = nil,
    reloadParticipants: [any ReloadParticipant] = [],
    reloadOnHangUp: Bool = false,
    host: String? = nil,
    port: Int? = nil,
    tls: ServerTLS? = nil,
    logger: Logger = Logger(label: "poolwarden")
) throws -> (application: some ApplicationProtocol, registry: PoolRegistry) {
    let tls = try tls ?? configuration.tls.map { settings throws(ServerTLS.SetupError) in try ServerTLS(settings) }
    // The metrics backend first, so that the registry's metrics land in it from the start.
    let exporter = PrometheusExporter.shared
    let admission = configuration.cluster.map { SlotCoordinator(settings: $0, logger: logger) }
    let registry = PoolRegistry(
        pools: configuration.pools, servers: configuration.servers, logger: logger,
        replica: configuration.cluster?.replica, admission: admission
    )
    let peers = try configuration.cluster.map { try PeerClient(settings: $0, tls: configuration.tls, maxConnections: configuration.maxClientConnections, logger: logger) }
    let listen = try configuration.resolvedListen(host: host, port: port)
    let callers = CallerDirectory(CallerRegistry(config: configuration))
    let reloader = ConfigReloader(
        source: reloadSource, configuration: configuration, registry: registry,
        participants: [callers] + (tls.map { [$0] } ?? []) + reloadParticipants, logger: logger
    )
    let connections = ClientConnections(
        limit: configuration.maxClientConnections, requestTimeout: configuration.requestTimeout, logger: logger
    )
    let handler = APIHandler(registry: registry, metrics: exporter, version: poolWardenVersion, reloader: reloader)

    let router = Router(context: WardenRequestContext.self)
    router.add(middleware: EventLoopAffinityMiddleware())
    if let tls {
        // With any TLS listener: a reload may start asking for client certificates.
        router.add(middleware: PeerCertificateMiddleware(tls: tls))
    }
    if let peers {
        router.add(middleware: ClusterMiddleware(peers: peers, maxBodyBytes: configuration.maxBodyBytes, logger: logger))
    }
    router.add(middleware: PoolListMiddleware(registry: registry, callers: callers))
    router.add(middleware: RouteFallbackMiddleware())
    router.add(middleware: DisconnectCancellationMiddleware())
    try handler.registerHandlers(
        on: router,
        // Compact JSON (the runtime's default pretty-prints, which costs more than the rest of a
        // small answer's encoding), keys sorted: Foundation's encoder otherwise writes them in
        // hash order, which changes from one process to the next. Sorting costs ~0.3 µs an answer.
        configuration: .init(jsonEncodingOptions: [.withoutEscapingSlashes, .sortedKeys]),
        middlewares: [
            ErrorHandlingMiddleware(),
            ProblemMiddleware(maxBodyBytes: configuration.maxBodyBytes),
            AuthMiddleware(callers: callers),
        ]
    )
    var services: [any Service] = [PoolRegistryService(registry: registry)]
    if let peers { services.append(peers) }
    if reloadOnHangUp { services.append(HangUpReloadService(reloader: reloader)) }
    let http1 = HTTP1Channel.Configuration(additionalChannelHandlers: connections.channelHandlers)
    let application = Application(
        router: router,
        server: tls.map { HTTPServerBuilder.http1(configuration: http1, tls: $0) } ?? .http1(configuration: http1),
        configuration: .init(
            address: .hostname(listen.host, port: listen.port),
            serverName: "PoolWarden/\(poolWardenVersion)",
            // Linux's default somaxconn, not Hummingbird's 256: with 2,200 clients connecting at
            // once on a loaded machine, a short queue dropped the handshakes of 172, which reached
            // the service (and its request timeout) only at the kernel's SYN-ACK retries, 30 s on.
            backlog: 4096
        ),
        services: services,
        logger: logger
    )
    return (application, registry)
}
