import DequeModule

extension PoolGroup {
    /// FIFO of waiting borrows with O(1) append, pop and cancel, and a scan for the first one that
    /// may be served (its caller under `max_per_caller`).
    ///
    /// A cancelled waiter leaves the dictionary at once and its queue entry is skipped when it
    /// reaches the front (the approach of postgres-nio's RequestQueue). Entries carry the arrival
    /// sequence so a request id reused after a cancel cannot jump into its old place.
    @usableFromInline
    struct WaitQueue {
        @usableFromInline var order: Deque<(request: UInt64, sequence: UInt64)>
        @usableFromInline var entries: [UInt64: Waiter]

        @inlinable
        init() {
            self.order = []
            self.entries = [:]
        }

        @inlinable
        var count: Int { self.entries.count }

        @inlinable
        var isEmpty: Bool { self.entries.isEmpty }

        @inlinable
        func contains(_ request: UInt64) -> Bool {
            self.entries[request] != nil
        }

        @inlinable
        mutating func append(_ waiter: Waiter) {
            self.entries[waiter.request] = waiter
            self.order.append((waiter.request, waiter.sequence))
        }

        /// The longest-waiting live waiter; drops cancelled entries on the way.
        @inlinable
        mutating func first() -> Waiter? {
            while let head = self.order.first {
                if let waiter = self.entries[head.request], waiter.sequence == head.sequence {
                    return waiter
                }
                self.order.removeFirst()
            }
            return nil
        }

        /// The longest-waiting live waiter that `isEligible` accepts. Cancelled entries are
        /// dropped at the front and skipped behind it.
        @inlinable
        mutating func first(where isEligible: (Waiter) -> Bool) -> Waiter? {
            guard let head = self.first() else { return nil }
            if isEligible(head) { return head }
            for entry in self.order.dropFirst() {
                if let waiter = self.entries[entry.request], waiter.sequence == entry.sequence, isEligible(waiter) {
                    return waiter
                }
            }
            return nil
        }

        @inlinable
        mutating func popFirst() -> Waiter? {
            guard let waiter = self.first() else { return nil }
            self.order.removeFirst()
            self.entries[waiter.request] = nil
            return waiter
        }

        @inlinable
        mutating func remove(_ request: UInt64) -> Waiter? {
            guard let waiter = self.entries.removeValue(forKey: request) else { return nil }
            if self.entries.isEmpty {
                self.order.removeAll(keepingCapacity: true)
            } else if self.order.count > 2 * self.entries.count + 32 {
                self.compact()
            }
            return waiter
        }

        /// Drops the entries of cancelled waiters, so many cancels behind a long-lived head cannot
        /// grow the queue without bound.
        @usableFromInline
        mutating func compact() {
            self.order = Deque(self.order.filter { head in
                self.entries[head.request]?.sequence == head.sequence
            })
        }

        /// All live waiters in arrival order, leaving the queue empty.
        @usableFromInline
        mutating func removeAll() -> [Waiter] {
            var result: [Waiter] = []
            result.reserveCapacity(self.entries.count)
            while let waiter = self.popFirst() {
                result.append(waiter)
            }
            self.order.removeAll()
            return result
        }

        /// Live waiters in arrival order, without changing the queue.
        @usableFromInline
        var inOrder: [Waiter] {
            self.order.compactMap { head in
                guard let waiter = self.entries[head.request], waiter.sequence == head.sequence else { return nil }
                return waiter
            }
        }
    }
}

extension PoolGroup.WaitQueue: Sendable where Types.Caller: Sendable {}
