import PoolWardenRuntime
import ServiceLifecycle

/// Runs the pools for as long as the service runs: opens their minimum connections at start, and
/// on graceful shutdown (after the HTTP server has stopped taking requests and finished its
/// in-flight ones) rolls back and closes every server connection.
struct PoolRegistryService: Service {
    let registry: PoolRegistry

    func run() async throws {
        await registry.start()
        try? await gracefulShutdown()
        await registry.shutdown()
    }
}
