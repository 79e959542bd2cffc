/// Tokens of leases that ended without a release (expired, revoked, pool deleted, connection
/// lost, shutdown), so that they answer 410 Gone with the reason instead of 404.
///
/// Bounded in count and age: the oldest are forgotten first, and after that a token answers 404
/// like any unknown one.
struct EndedLeases {
    struct Entry {
        var caller: String
        var reason: LeaseEndReason
        var at: ContinuousClock.Instant
    }

    let capacity: Int
    let retention: Duration
    private var entries: [String: Entry] = [:]
    /// Insertion order; `head` is the oldest entry still queued. Compacted when half is consumed.
    private var order: [(token: String, at: ContinuousClock.Instant)] = []
    private var head = 0

    init(capacity: Int = 100_000, retention: Duration = .seconds(3600)) {
        self.capacity = capacity
        self.retention = retention
    }

    mutating func insert(_ token: String, caller: String, reason: LeaseEndReason, now: ContinuousClock.Instant) {
        entries[token] = Entry(caller: caller, reason: reason, at: now)
        order.append((token, now))
        while head < order.count, order.count - head > capacity || now - order[head].at > retention {
            let oldest = order[head]
            head += 1
            if entries[oldest.token]?.at == oldest.at {
                entries[oldest.token] = nil
            }
        }
        if head > 1024, head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }

    func lookup(_ token: String, now: ContinuousClock.Instant) -> Entry? {
        guard let entry = entries[token], now - entry.at <= retention else { return nil }
        return entry
    }
}
