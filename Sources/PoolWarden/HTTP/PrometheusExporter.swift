import Metrics
import Prometheus
import Synchronization

/// The process's Prometheus registry, bootstrapped into swift-metrics once: every metric the
/// runtime emits through swift-metrics lands here and `/metrics` renders it.
public final class PrometheusExporter: Sendable {
    public static let shared = PrometheusExporter()

    private let registry = PrometheusCollectorRegistry()

    private init() {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }

    /// The exposition text format, version 0.0.4.
    public func render() -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        registry.emit(into: &buffer)
        return buffer
    }
}
