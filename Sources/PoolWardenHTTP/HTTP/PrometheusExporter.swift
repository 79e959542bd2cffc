import Metrics
import PostgresLibPQ
import Prometheus
import Synchronization

/// The process's Prometheus registry, bootstrapped into swift-metrics once: every metric the
/// runtime emits through swift-metrics lands here, with its `# HELP` line, and `/metrics`
/// renders it.
public final class PrometheusExporter: Sendable {
    public static let shared = PrometheusExporter()

    private let registry = PrometheusCollectorRegistry()
    /// Counted by the driver for the whole process (a notification belongs to a connection, not to
    /// a request), so it has no `pool` label and is brought up to date at each render.
    private let notificationsDiscarded: Prometheus.Counter
    private let notificationsRendered = Mutex(0)

    private init() {
        MetricsSystem.bootstrap(DescribedMetricsFactory(registry: registry))
        notificationsDiscarded = registry.makeCounter(descriptor: MetricNameDescriptor(
            namespace: "poolwarden",
            metricName: "notifications_discarded",
            unitName: "total",
            helpText: "NOTIFY messages server connections received (a session ran LISTEN) and PoolWarden dropped: nothing delivers them."
        ))
    }

    /// The exposition text format, version 0.0.4.
    public func render() -> [UInt8] {
        let total = PGConnection.notificationsDiscarded
        let added = notificationsRendered.withLock { rendered in
            defer { rendered = max(rendered, total) }
            return total - rendered
        }
        if added > 0 { notificationsDiscarded.increment(by: Int64(added)) }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        registry.emit(into: &buffer)
        return buffer
    }
}
