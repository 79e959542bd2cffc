import CoreMetrics
import PoolCore

/// One pool's metrics, made once when the pool is added (making a metric means a lookup in the
/// backend, too slow for every event) and labelled with the dimension `pool`.
///
/// Counters follow PoolCore's actions as they are applied; gauges are sampled from the pool's
/// status (see ``PoolRegistry/refreshMetrics()``), since PoolCore keeps its counts to itself.
final class WardenMetrics: Sendable {
    let open: Gauge
    let idle: Gauge
    let leased: Gauge
    let opening: Gauge
    let waiting: Gauge
    let borrows: Counter
    let borrowTimeouts: Counter
    let connectAttempts: Counter
    let connectFailures: Counter
    let leasesExpired: Counter
    let leasesRevoked: Counter
    let connectionsRecycled: Counter
    let borrowWait: CoreMetrics.Timer
    let queryDuration: CoreMetrics.Timer

    init(pool: String, factory: any MetricsFactory) {
        let dimensions = [("pool", pool)]
        func gauge(_ label: String) -> Gauge { Gauge(label: label, dimensions: dimensions, factory: factory) }
        func counter(_ label: String) -> Counter { Counter(label: label, dimensions: dimensions, factory: factory) }
        open = gauge("poolwarden_connections_open")
        idle = gauge("poolwarden_connections_idle")
        leased = gauge("poolwarden_connections_leased")
        opening = gauge("poolwarden_connections_opening")
        waiting = gauge("poolwarden_waiting")
        borrows = counter("poolwarden_borrows_total")
        borrowTimeouts = counter("poolwarden_borrow_timeouts_total")
        connectAttempts = counter("poolwarden_connect_attempts_total")
        connectFailures = counter("poolwarden_connect_failures_total")
        leasesExpired = counter("poolwarden_leases_expired_total")
        leasesRevoked = counter("poolwarden_leases_revoked_total")
        connectionsRecycled = counter("poolwarden_connections_recycled_total")
        borrowWait = CoreMetrics.Timer(label: "poolwarden_borrow_wait_seconds", dimensions: dimensions, factory: factory)
        queryDuration = CoreMetrics.Timer(label: "poolwarden_query_duration_seconds", dimensions: dimensions, factory: factory)
    }

    func record(_ counts: PoolStatusView.Counts) {
        open.record(counts.open)
        idle.record(counts.idle)
        leased.record(counts.leased)
        opening.record(counts.opening)
        waiting.record(counts.waiting)
    }

    /// A deleted pool shows empty gauges rather than its last sample.
    func recordClosed() {
        record(PoolStatusView.Counts())
    }

    static func elapsed(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
