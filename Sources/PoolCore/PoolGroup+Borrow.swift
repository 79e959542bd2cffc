import DequeModule

extension PoolGroup {
    /// A borrow request: answer `request` with a lease on a connection of `pool`.
    ///
    /// Served at once from an idle connection when nobody waits ahead; otherwise it waits (first
    /// come, first served) until a connection is released, opened or checked, until `wait` (or the
    /// pool's `borrowTimeout`) passes, or until ``cancelBorrow(_:pool:now:)``. A borrow whose caller
    /// holds `maxPerCaller` leases waits too, in its place, until the caller releases one; the
    /// borrows of other callers behind it are served meanwhile. A borrow that would wait while
    /// `maxWaiting` others do fails at once with ``BorrowFailure/tooManyWaiting``. With a `key`,
    /// the caller's live lease with that key is answered again instead of a second connection.
    ///
    /// - Parameters:
    ///   - request: unique among the pool's waiting borrows; it names the answer and the deadline timer.
    ///   - ttl: how long the lease may stay idle before it is revoked; nil uses the pool's `leaseTTL`.
    ///   - wait: how long to wait for a connection; nil uses the pool's `borrowTimeout`, zero never waits.
    @inlinable
    public mutating func borrow(
        _ request: UInt64,
        pool id: PoolID,
        caller: Types.Caller,
        key: String? = nil,
        ttl: Duration? = nil,
        wait: Duration? = nil,
        now: Instant
    ) -> PoolActions {
        var actions = PoolActions()
        guard let pool = self.poolIndex(id), case .running = self.pools[pool].lifecycle, !self.shuttingDown else {
            self.refuseBorrow(request, pool: id, into: &actions)
            return actions
        }
        let now = self.ticks(now)
        if let key, self.answerWithExistingLease(request, pool: pool, caller: caller, key: key, now: now, into: &actions) {
            return actions
        }
        let ttl = ttl ?? self.pools[pool].configuration.leaseTTL
        let outcome = self.pools[pool].borrowFast(
            request, caller: caller, key: key, ttl: ttl, now: now, leaseSerials: &self.nextLeaseSerial, into: &actions
        )
        switch outcome {
        case .granted:
            if let key, case .grant(let grant) = actions[0] {
                self.registerKey(pool, slot: Int(grant.connectionID.slot), caller: caller, key: key, now: now, into: &actions)
            }
        case .mustWait:
            self.borrowSlow(request, pool: pool, caller: caller, key: key, ttl: ttl, wait: wait, now: now, into: &actions)
        }
        return actions
    }

    /// The HTTP client of a waiting borrow went away: the borrow leaves the queue and is answered
    /// with ``BorrowFailure/cancelled``. A borrow already answered with a lease is not waiting any
    /// more: the runtime releases that lease instead.
    public mutating func cancelBorrow(_ request: UInt64, pool id: PoolID, now: Instant) -> PoolActions {
        var actions = PoolActions()
        guard let pool = self.poolIndex(id), let waiter = self.pools[pool].waiters.remove(request) else {
            return actions
        }
        self.forgetWaiter(pool, caller: waiter.caller)
        self.pools[pool].totals.cancelled += 1
        actions.append(.fail(request: request, pool: id, .cancelled))
        actions.append(.cancel(.borrowDeadline(id, request: request)))
        return actions
    }

    @usableFromInline
    mutating func refuseBorrow(_ request: UInt64, pool id: PoolID, into actions: inout PoolActions) {
        let failure: BorrowFailure
        if self.shuttingDown {
            failure = .shutdown
        } else if self.poolIndex(id) != nil {
            failure = .poolDraining
        } else {
            failure = .poolNotFound
        }
        actions.append(.fail(request: request, pool: id, failure))
    }

    /// Answers an idempotent borrow with the caller's live lease for `key`, if there is one.
    @usableFromInline
    mutating func answerWithExistingLease(
        _ request: UInt64,
        pool: Int,
        caller: Types.Caller,
        key: String,
        now: Duration,
        into actions: inout PoolActions
    ) -> Bool {
        guard let lease = self.pools[pool].keyed[LeaseKey(caller: caller, key: key)],
            let (_, slot) = self.leaseSlot(lease)
        else { return false }
        self.pools[pool].slots[slot].lease!.lastActivity = now
        actions.append(.grant(self.leaseGrant(request, pool: pool, slot: slot, now: now, reused: true)))
        return true
    }

    @usableFromInline
    mutating func borrowSlow(
        _ request: UInt64,
        pool: Int,
        caller: Types.Caller,
        key: String?,
        ttl: Duration,
        wait: Duration?,
        now: Duration,
        into actions: inout PoolActions
    ) {
        let id = self.poolID(pool)
        guard !self.pools[pool].waiters.contains(request) else {
            actions.append(.fail(request: request, pool: id, .duplicateRequest))
            return
        }
        let wait = wait ?? self.pools[pool].configuration.borrowTimeout
        let sequence = self.nextWaiterSequence
        self.nextWaiterSequence += 1
        self.pools[pool].waiters.append(
            Waiter(request: request, sequence: sequence, caller: caller, key: key, ttl: ttl, deadline: now + wait)
        )
        self.pools[pool].callers[caller, default: CallerLoad()].waiting += 1
        let serving = self.pools[pool].isRunning && !self.shuttingDown && !self.pools[pool].paused
        if serving {
            self.serveWaiters(pool, now: now, into: &actions)
        }
        // Refused only once it would really wait: an idle connection that the borrows ahead may
        // not take (their callers at quota) serves it in spite of a full queue. A borrow that may
        // not wait never takes a place in the queue, so it is never refused for its length.
        if wait > .zero, self.pools[pool].waiters.count > self.pools[pool].limits.maxWaiting,
            let waiter = self.pools[pool].waiters.remove(request)
        {
            self.forgetWaiter(pool, caller: waiter.caller)
            self.pools[pool].totals.waitingRejections += 1
            actions.append(.fail(request: request, pool: id, .tooManyWaiting))
        }
        if serving {
            self.provision(pool, now: now, into: &actions)
        }
        guard self.pools[pool].waiters.contains(request) else { return }
        self.probeForBorrow(pool, now: now, into: &actions)
        if wait > .zero {
            actions.append(.schedule(PoolTimer(kind: .borrowDeadline(id, request: request), delay: wait)))
        } else if let waiter = self.pools[pool].waiters.remove(request) {
            // A borrow that may not wait and was not served right away times out now, even behind others.
            self.timeOut(pool, waiter, into: &actions)
        }
    }

    /// Serves the queue from idle connections, then opens what is still missing.
    @usableFromInline
    mutating func serveQueue(_ pool: Int, now: Duration, into actions: inout PoolActions) {
        guard self.pools[pool].isRunning, !self.shuttingDown, !self.pools[pool].paused else { return }
        self.serveWaiters(pool, now: now, into: &actions)
        self.provision(pool, now: now, into: &actions)
    }

    /// Hands idle connections to waiters in arrival order, passing over those whose caller holds
    /// its `maxPerCaller` leases, and starts health checks where an idle connection needs one.
    @usableFromInline
    mutating func serveWaiters(_ pool: Int, now: Duration, into actions: inout PoolActions) {
        while let slot = self.pools[pool].idle.last, let next = self.nextServable(pool, now: now, into: &actions) {
            if let reason = self.retireReason(pool, slot, now: now) {
                self.closeSlot(pool, slot, reason, into: &actions)
                continue
            }
            if self.needsHealthCheck(pool, slot, now: now) {
                // Each check in flight will serve one waiter; start no more checks than waiters
                // a connection could serve.
                guard self.pools[pool].counts.checking < self.pools[pool].servableWaiters else { break }
                self.pools[pool].idle.removeLast()
                self.setPhase(pool, slot, .checking)
                actions.append(.healthCheck(self.connectionID(pool, slot)))
                continue
            }
            self.pools[pool].idle.removeLast()
            _ = self.pools[pool].waiters.remove(next.request)
            self.grant(
                next.request, pool: pool, slot: slot, caller: next.caller, key: next.key, ttl: next.ttl,
                fromQueue: true, now: now, into: &actions
            )
        }
    }

    /// The longest-waiting borrow whose caller may take another lease; those found past their
    /// deadline on the way time out (their timers may not have fired yet).
    @usableFromInline
    mutating func nextServable(_ pool: Int, now: Duration, into actions: inout PoolActions) -> Waiter? {
        while let waiter = self.pools[pool].firstServable() {
            guard waiter.deadline <= now else { return waiter }
            _ = self.pools[pool].waiters.remove(waiter.request)
            self.timeOut(pool, waiter, into: &actions)
            actions.append(.cancel(.borrowDeadline(self.poolID(pool), request: waiter.request)))
        }
        return nil
    }

    /// Ends a borrow whose wait is over with the reason it was not served: the pool was paused,
    /// its caller still held its quota, connects were failing, the server budget was full while
    /// the pool had room, or simply no connection came free.
    @usableFromInline
    mutating func timeOut(_ pool: Int, _ waiter: Waiter, into actions: inout PoolActions) {
        self.forgetWaiter(pool, caller: waiter.caller)
        let failure: BorrowFailure
        if self.pools[pool].paused {
            // Paused first: an operator held every borrow back, whatever else was the case.
            failure = .paused
        } else if !self.pools[pool].mayLease(waiter.caller) {
            // Not even a free connection would have served it.
            failure = .callerQuota
        } else if self.pools[pool].failingToConnect {
            self.pools[pool].totals.connectFailedRejections += 1
            actions.append(.fail(request: waiter.request, pool: self.poolID(pool), .connectFailed(lastError: self.pools[pool].lastError)))
            return
        } else if let server = self.pools[pool].server, self.servers[server].isFull,
            self.pools[pool].counts.total < self.pools[pool].limits.max
        {
            // The pool itself could have opened another connection: the shared budget held it back.
            failure = .serverBudgetExhausted(ServerID(index: UInt32(truncatingIfNeeded: server)), limit: self.servers[server].limit)
        } else {
            failure = .timeout
        }
        self.pools[pool].totals.timeouts += 1
        actions.append(.fail(request: waiter.request, pool: self.poolID(pool), failure))
    }

    /// Takes a waiter that left the queue off its caller's load.
    @usableFromInline
    mutating func forgetWaiter(_ pool: Int, caller: Types.Caller) {
        guard let index = self.pools[pool].callers.index(forKey: caller) else { return }
        self.pools[pool].callers.values[index].waiting -= 1
        if self.pools[pool].callers.values[index].total <= 0 {
            self.pools[pool].callers.remove(at: index)
        }
    }

    /// Leases the connection in `slot` (already out of the idle list) to a borrow.
    @usableFromInline
    mutating func grant(
        _ request: UInt64,
        pool: Int,
        slot: Int,
        caller: Types.Caller,
        key: String?,
        ttl: Duration,
        fromQueue: Bool,
        now: Duration,
        into actions: inout PoolActions
    ) {
        if fromQueue {
            self.pools[pool].callers[caller, default: CallerLoad()].moveWaiterToLease()
        } else {
            self.pools[pool].callers[caller, default: CallerLoad()].leases += 1
        }
        self.pools[pool].takeLease(
            slot, request: request, caller: caller, key: key, ttl: ttl, fromQueue: fromQueue, now: now,
            leaseSerials: &self.nextLeaseSerial, into: &actions
        )
        if let key {
            self.registerKey(pool, slot: slot, caller: caller, key: key, now: now, into: &actions)
        }
    }

    /// Records the key of a new lease and answers the caller's other waiting borrows with that key
    /// with the same lease.
    @usableFromInline
    mutating func registerKey(_ pool: Int, slot: Int, caller: Types.Caller, key: String, now: Duration, into actions: inout PoolActions) {
        let lease = self.leaseID(pool, slot, serial: self.pools[pool].slots[slot].lease!.serial)
        self.pools[pool].keyed[LeaseKey(caller: caller, key: key)] = lease
        guard !self.pools[pool].waiters.isEmpty else { return }
        for waiter in self.pools[pool].waiters.inOrder where waiter.caller == caller && waiter.key == key {
            _ = self.pools[pool].waiters.remove(waiter.request)
            self.forgetWaiter(pool, caller: caller)
            actions.append(.grant(self.leaseGrant(waiter.request, pool: pool, slot: slot, now: now, reused: true)))
            actions.append(.cancel(.borrowDeadline(self.poolID(pool), request: waiter.request)))
        }
    }

    @usableFromInline
    func leaseGrant(_ request: UInt64, pool: Int, slot: Int, now: Duration, reused: Bool) -> LeaseGrant {
        let record = self.pools[pool].slots[slot].lease!
        return LeaseGrant(
            request: request,
            pool: self.poolID(pool),
            lease: self.leaseID(pool, slot, serial: record.serial),
            connectionID: self.connectionID(pool, slot),
            expiresIn: record.expiresAt - now,
            reused: reused
        )
    }
}
