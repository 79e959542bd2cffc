import CoreMetrics
import PoolCore

/// One pool's metrics, made once when the pool is added (making a metric means a lookup in the
/// backend, too slow for every event) and labelled with the dimension `pool`.
///
/// Gauges and counters are both sampled from the pool's status (see
/// ``PoolRegistry/refreshMetrics()``, which `/metrics` runs before it renders): each counter is
/// brought up to its total in PoolCore, so `/metrics` and `GET /v1/pools` count the same events
/// by construction instead of by two sets of increments kept in step by hand (which drifted:
/// recycled connections were never counted). The histograms are recorded as events happen.
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
    let connectionsClosed: Counter
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
        connectionsClosed = counter("poolwarden_connections_closed_total")
        borrowWait = CoreMetrics.Timer(label: "poolwarden_borrow_wait_seconds", dimensions: dimensions, factory: factory)
        queryDuration = CoreMetrics.Timer(label: "poolwarden_query_duration_seconds", dimensions: dimensions, factory: factory)
    }

    /// Each counter beside the status total it mirrors: the one list both directions use, so a
    /// total shown in status cannot lack its metric.
    private var counters: [(Counter, KeyPath<PoolTotals, Int>)] {
        [
            (borrows, \.borrows),
            (borrowTimeouts, \.timeouts),
            (connectAttempts, \.connectAttempts),
            (connectFailures, \.connectFailures),
            (leasesExpired, \.expired),
            (leasesRevoked, \.revoked),
            (connectionsRecycled, \.recycled),
            (connectionsClosed, \.closed),
        ]
    }

    /// Adds to each counter what its total grew by since `reported`, and records the new totals
    /// there. Run under the registry's lock, so two refreshes never add the same growth twice.
    func catchUp(to totals: PoolTotals, reported: inout PoolTotals) {
        for (counter, total) in counters {
            let growth = totals[keyPath: total] - reported[keyPath: total]
            if growth > 0 { counter.increment(by: Int64(growth)) }
        }
        reported = totals
    }

    func record(_ counts: PoolStatusView.Counts) {
        open.record(counts.open)
        idle.record(counts.idle)
        leased.record(counts.leased)
        opening.record(counts.opening)
        waiting.record(counts.waiting)
    }

    /// A deleted pool shows empty gauges rather than its last sample, and its counters leave the
    /// exposition (see ``retireCounters()``).
    func recordClosed() {
        record(PoolStatusView.Counts())
        retireCounters()
    }

    /// Takes the counters out of the backend. A pool created again under the same name starts its
    /// totals at zero, and so must its counters, or the two would disagree from then on; the
    /// backend hands out the same counter for the same name and labels until it is destroyed.
    func retireCounters() {
        for (counter, _) in counters { counter.destroy() }
    }

    static func elapsed(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
