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
        metric(\.up, server) { Gauge(label: "poolwarden_cluster_coordination_up", dimensions: [("server", server)]) }.record(up ? 1 : 0)
    }

    func slotsHeld(_ slots: String, _ count: Int) {
        metric(\.held, slots) { Gauge(label: "poolwarden_cluster_slots_held", dimensions: [("slots", slots)]) }.record(count)
    }

    func slotWait(_ slots: String) {
        metric(\.waits, slots) { Counter(label: "poolwarden_cluster_slot_waits_total", dimensions: [("slots", slots)]) }.increment()
    }

    /// The family's metric for `label`, made on first use.
    private func metric<M: Sendable>(_ family: WritableKeyPath<Families, [String: M]>, _ label: String, make: () -> M) -> M {
        families.withLock { families in
            if let metric = families[keyPath: family][label] { return metric }
            let metric = make()
            families[keyPath: family][label] = metric
            return metric
        }
    }
}
