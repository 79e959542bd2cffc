import Foundation
import Hummingbird
import Logging
import OpenAPIHummingbird
import OpenAPIRuntime

/// The version `/healthz` reports.
public let poolWardenVersion = "0.1.0"

/// Builds the whole service from a validated configuration: the pool registry, the generated
/// routes over `APIHandler`, auth and problem middlewares. Kept apart from `@main` so that tests
/// run the real application.
public func buildApplication(
    configuration: WardenConfig,
    host: String? = nil,
    port: Int? = nil,
    logger: Logger = Logger(label: "poolwarden")
) throws -> (application: some ApplicationProtocol, registry: PoolRegistry) {
    // The metrics backend first, so that the registry's metrics land in it from the start.
    let exporter = PrometheusExporter.shared
    let registry = PoolRegistry(pools: configuration.pools, servers: configuration.servers, logger: logger)
    let listen = try configuration.resolvedListen(host: host, port: port)
    let callers = CallerRegistry(config: configuration)
    let handler = APIHandler(registry: registry, metrics: exporter, version: poolWardenVersion)

    let router = Router()
    router.add(middleware: RouteFallbackMiddleware())
    router.add(middleware: DisconnectCancellationMiddleware(maxBodyBytes: configuration.maxBodyBytes))
    try handler.registerHandlers(
        on: router,
        middlewares: [
            ErrorHandlingMiddleware(),
            ProblemMiddleware(maxBodyBytes: configuration.maxBodyBytes),
            AuthMiddleware(callers: callers),
        ]
    )
    let application = Application(
        router: router,
        configuration: .init(
            address: .hostname(listen.host, port: listen.port),
            serverName: "PoolWarden"
        ),
        services: [PoolRegistryService(registry: registry)],
        logger: logger
    )
    return (application, registry)
}
