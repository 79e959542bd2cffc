import CoreMetrics
import Synchronization

/// The cluster's own figures: whether each coordination session is up, how many global slots
/// this replica holds per pool and budget, and how often a connect found none free.
final class ClusterMetrics: Sendable {
    private struct Families {
        var up: [String: Gauge] = [:]
        var held: [String: Gauge] = [:]
        var waits: [String: Counter] = [:]
    }

    private let families = Mutex(Families())

    func coordination(_ server: String, up: Bool) {
        let gauge = families.withLock { families in
            if let gauge = families.up[server] { return gauge }
            let gauge = Gauge(label: "poolwarden_cluster_coordination_up", dimensions: [("server", server)])
            families.up[server] = gauge
            return gauge
        }
        gauge.record(up ? 1 : 0)
    }

    func slotsHeld(_ slots: String, _ count: Int) {
        let gauge = families.withLock { families in
            if let gauge = families.held[slots] { return gauge }
            let gauge = Gauge(label: "poolwarden_cluster_slots_held", dimensions: [("slots", slots)])
            families.held[slots] = gauge
            return gauge
        }
        gauge.record(count)
    }

    func slotWait(_ slots: String) {
        let counter = families.withLock { families in
            if let counter = families.waits[slots] { return counter }
            let counter = Counter(label: "poolwarden_cluster_slot_waits_total", dimensions: [("slots", slots)])
            families.waits[slots] = counter
            return counter
        }
        counter.increment()
    }
}
