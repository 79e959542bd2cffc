import DequeModule

extension PoolGroup {
    /// One pool's state. Pools live in an array of the group; a deleted pool's entry is emptied and
    /// reused with a new epoch.
    @usableFromInline
    struct Pool {
        /// Where the pool lives in the group's array; with `epoch` it makes the ``PoolID``.
        @usableFromInline let index: UInt32
        @usableFromInline var epoch: UInt32
        @usableFromInline var lifecycle: Lifecycle
        @usableFromInline var server: Int?
        @usableFromInline var configuration: PoolConfiguration
        @usableFromInline var paused: Bool
        @usableFromInline var degraded: Bool
        @usableFromInline var lastError: String?
        @usableFromInline var consecutiveFailures: Int
        /// When the last connect failed; a borrow on a degraded pool probes again at most once
        /// per `connectRetry.baseDelay`.
        @usableFromInline var lastFailureAt: Duration?
        /// A breaker-probe timer is pending.
        @usableFromInline var probeScheduled: Bool
        /// A connect found no global slot free (another replica holds them): no new connect
        /// starts until the slot-retry timer fires or a connection of this replica closes.
        @usableFromInline var awaitingSlot: Bool
        @usableFromInline var generation: UInt64
        @usableFromInline var slots: [Slot]
        /// The runtime's handle per slot, kept apart so slots stay plain values.
        @usableFromInline var handles: [Types.Connection?]
        /// Who holds the lease per slot, kept apart for the same reason.
        @usableFromInline var holders: [LeaseHolder?]
        @usableFromInline var freeSlots: [Int]
        /// Idle slots; the back is the most recently used (handed out first), the front the
        /// longest idle (evicted and timed out first).
        @usableFromInline var idle: Deque<Int>
        @usableFromInline var waiters: WaitQueue
        @usableFromInline var callers: [Types.Caller: CallerLoad]
        @usableFromInline var keyed: [LeaseKey: LeaseID]
        @usableFromInline var counts: PhaseCounts
        @usableFromInline var totals: PoolTotals
        /// Connections of other pools being closed to make room for this one.
        @usableFromInline var pendingEvictions: Int

        @inlinable
        init(index: Int, epoch: UInt32, server: Int?, configuration: PoolConfiguration) {
            self.index = UInt32(truncatingIfNeeded: index)
            self.epoch = epoch
            self.lifecycle = .running
            self.server = server
            self.configuration = configuration
            self.paused = false
            self.degraded = false
            self.lastError = nil
            self.consecutiveFailures = 0
            self.lastFailureAt = nil
            self.probeScheduled = false
            self.awaitingSlot = false
            self.generation = 0
            self.slots = []
            self.handles = []
            self.holders = []
            self.freeSlots = []
            self.idle = []
            self.waiters = WaitQueue()
            self.callers = [:]
            self.keyed = [:]
            self.counts = PhaseCounts()
            self.totals = PoolTotals()
            self.pendingEvictions = 0
        }

        @inlinable
        var isRunning: Bool {
            if case .running = self.lifecycle { return true }
            return false
        }

        @inlinable
        var limits: PoolLimits { self.configuration.limits }

        /// Servable waiters no connection on its way will serve: how many more the pool should open.
        @inlinable
        var unmetDemand: Int {
            guard self.isRunning, !self.paused, !self.degraded else { return 0 }
            return self.servableWaiters - self.counts.pendingSupply - self.pendingEvictions
        }

        /// Whether `caller` may take another lease: it holds fewer than `max_per_caller`.
        @inlinable
        func mayLease(_ caller: Types.Caller) -> Bool {
            (self.callers[caller]?.leases ?? 0) < self.configuration.limits.maxPerCaller
        }

        /// Waiters a free connection could serve now: each caller's waiting borrows, up to the
        /// leases its quota still allows. The others wait for their caller to release one, and no
        /// connection is opened for them.
        @inlinable
        var servableWaiters: Int {
            guard !self.waiters.isEmpty else { return 0 }
            let quota = self.configuration.limits.maxPerCaller
            var count = 0
            for load in self.callers.values where load.waiting > 0 {
                count += load.servable(quota: quota)
            }
            return count
        }

        /// The longest-waiting borrow whose caller may take another lease. A caller at its quota
        /// keeps its place in the queue without holding up the callers behind it.
        @inlinable
        mutating func firstServable() -> PoolGroup.Waiter? {
            guard let head = self.waiters.first() else { return nil }
            if self.mayLease(head.caller) { return head }
            guard self.servableWaiters > 0 else { return nil }
            let callers = self.callers
            let quota = self.configuration.limits.maxPerCaller
            return self.waiters.first { (callers[$0.caller]?.leases ?? 0) < quota }
        }

        /// The pool is trying and failing to reach its server: waiters it cannot serve end with
        /// the connect error rather than a plain timeout.
        @inlinable
        var failingToConnect: Bool {
            self.degraded || (self.consecutiveFailures > 0 && self.counts.opening + self.counts.backoff > 0)
        }

        @inlinable
        var state: PoolState {
            if !self.isRunning { return .draining }
            // Degraded from the first failed connect on (a server that accepts TCP and never
            // answers shows at its first connect timeout), until a connect succeeds.
            if self.degraded || self.consecutiveFailures > 0 { return .degraded }
            if self.paused { return .paused }
            return .running
        }
    }
}

extension PoolGroup.Pool: Sendable where Types.Connection: Sendable, Types.Caller: Sendable {}
