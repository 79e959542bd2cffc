import CoreMetrics

/// One `servers:` budget's gauges, labelled with the dimension `server` (`host:port` as the config
/// names it): how many connections count against the budget, and the budget. Sampled with the
/// pools' gauges (see ``PoolRegistry/refreshMetrics()``).
final class ServerMetrics: Sendable {
    let connections: Gauge
    let maxConnections: Gauge

    init(server: String, factory: any MetricsFactory) {
        let dimensions = [("server", server)]
        connections = Gauge(label: "poolwarden_server_connections", dimensions: dimensions, factory: factory)
        maxConnections = Gauge(label: "poolwarden_server_max_connections", dimensions: dimensions, factory: factory)
    }

    func record(open: Int, max: Int) {
        connections.record(open)
        maxConnections.record(max)
    }

    /// Takes the gauges out of the backend: the budget is gone from the config.
    func retire() {
        connections.destroy()
        maxConnections.destroy()
    }
}
