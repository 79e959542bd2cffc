extension PoolGroup {
    /// The holder gives the lease back. `disposition` is what the runtime knows about the
    /// connection: a clean one goes to the next waiter or back to idle, one inside a transaction is
    /// reset first (``PoolAction/reset(_:)``), a broken one is closed and replaced up to `min`.
    ///
    /// An unknown, released or revoked lease produces no action; the runtime answers 404 or 410.
    @inlinable
    public mutating func release(_ lease: LeaseID, _ disposition: ReleaseDisposition = .clean, now: Instant) -> PoolActions {
        var actions = PoolActions()
        guard let (pool, slot) = self.leaseSlot(lease) else { return actions }
        let now = self.ticks(now)
        self.pools[pool].endLease(slot)
        self.returnConnection(pool, slot, disposition, now: now, into: &actions)
        return actions
    }

    /// An operator takes one lease away from its holder (revoke by token prefix). The connection
    /// comes back as at a release, by what the runtime knows of it (`disposition`).
    @inlinable
    public mutating func revoke(_ lease: LeaseID, _ disposition: ReleaseDisposition, now: Instant) -> PoolActions {
        var actions = PoolActions()
        guard let (pool, slot) = self.leaseSlot(lease) else { return actions }
        self.revokeLease(pool, slot, .revoked, into: &actions)
        self.returnConnection(pool, slot, disposition, now: self.ticks(now), into: &actions)
        return actions
    }

    /// A connection whose lease ended comes back: a clean one to the next waiter or idle, one that
    /// holds its caller's state to a reset, a broken one closed and replaced up to `min`.
    @usableFromInline
    mutating func returnConnection(_ pool: Int, _ slot: Int, _ disposition: ReleaseDisposition, now: Duration, into actions: inout PoolActions) {
        self.pools[pool].slots[slot].lastUsedAt = now
        switch disposition {
        case .clean:
            if !self.shuttingDown, !self.serverIsFull(pool), self.pools[pool].parkQuietly(slot, now: now, into: &actions) {
                return
            }
            self.makeAvailable(pool, slot, now: now, into: &actions)
        case .needsReset:
            self.resetOrClose(pool, slot, now: now, into: &actions)
        case .broken:
            self.closeSlot(pool, slot, .broken, into: &actions)
            self.provision(pool, now: now, into: &actions)
        }
        self.serveAfterLeaseEnded(pool, now: now, into: &actions)
    }

    /// The runtime reports use of a lease: a statement starts (`running: true`) or ends
    /// (`running: false`). A lease never expires while a statement runs; otherwise it expires `ttl`
    /// after its last use. Returns how long until it expires, or nil when the lease is gone.
    @inlinable
    public mutating func leaseTouched(_ lease: LeaseID, running: Bool, now: Instant) -> Duration? {
        guard let (pool, slot) = self.leaseSlot(lease) else { return nil }
        let now = self.ticks(now)
        self.pools[pool].slots[slot].lease!.lastActivity = now
        self.pools[pool].slots[slot].lease!.running = running
        return self.pools[pool].slots[slot].lease!.ttl
    }

    /// The runtime has work to do on a granted lease before its borrower gets it (setting
    /// application_name, say). Until ``handOver(_:)`` the lease is not counted in `borrows`, and
    /// if it ends meanwhile (revoked by a recycle, released as broken) it is counted nowhere: no
    /// caller ever held it, and its borrow is free to try again. Totals then agree with what
    /// callers saw: every borrow counted is a token someone got, every revoke one that answers so.
    public mutating func deferHandover(_ lease: LeaseID) {
        guard let (pool, slot) = self.leaseSlot(lease), self.pools[pool].slots[slot].lease!.handedOver else { return }
        self.pools[pool].slots[slot].lease!.handedOver = false
        self.pools[pool].totals.borrows -= 1
    }

    /// The borrower has the lease from now on (see ``deferHandover(_:)``). False when the lease
    /// ended before.
    @discardableResult
    public mutating func handOver(_ lease: LeaseID) -> Bool {
        guard let (pool, slot) = self.leaseSlot(lease) else { return false }
        if !self.pools[pool].slots[slot].lease!.handedOver {
            self.pools[pool].slots[slot].lease!.handedOver = true
            self.pools[pool].totals.borrows += 1
        }
        return true
    }

    /// Extends a lease: it now expires `ttl` (or its current ttl) from `now`. Nil when the lease is gone.
    public mutating func renew(_ lease: LeaseID, ttl: Duration? = nil, now: Instant) -> (expiresIn: Duration, actions: PoolActions)? {
        guard let (pool, slot) = self.leaseSlot(lease) else { return nil }
        let now = self.ticks(now)
        var actions = PoolActions()
        if let ttl {
            self.pools[pool].slots[slot].lease!.ttl = ttl
        }
        self.pools[pool].slots[slot].lease!.lastActivity = now
        let expiresAt = self.pools[pool].slots[slot].lease!.expiresAt
        self.armLeaseTimer(pool, slot, at: expiresAt, now: now, into: &actions)
        return (expiresAt - now, actions)
    }

    /// What the group knows about a live lease, or nil when it is unknown, released or revoked.
    public func lease(_ lease: LeaseID) -> LeaseInfo? {
        guard let (pool, slot) = self.leaseSlot(lease), let record = self.pools[pool].slots[slot].lease,
            let holder = self.pools[pool].holders[slot]
        else { return nil }
        return LeaseInfo(
            lease: lease,
            pool: self.poolID(pool),
            connectionID: self.connectionID(pool, slot),
            connection: self.pools[pool].handles[slot]!,
            caller: holder.caller,
            key: holder.key,
            createdAt: self.instant(record.createdAt),
            expiresAt: self.instant(record.expiresAt),
            ttl: record.ttl,
            running: record.running
        )
    }


    /// A lease ended, so its caller may be under its quota again: a borrow of that caller that
    /// waited behind the quota takes an idle connection now, rather than the one the lease had
    /// (which may be closing or being reset).
    @usableFromInline
    mutating func serveAfterLeaseEnded(_ pool: Int, now: Duration, into actions: inout PoolActions) {
        guard !self.pools[pool].waiters.isEmpty, !self.pools[pool].idle.isEmpty, self.pools[pool].isRunning,
            !self.shuttingDown, !self.pools[pool].paused
        else { return }
        self.serveWaiters(pool, now: now, into: &actions)
    }

    /// Takes the lease away from its holder; the connection stays in `slot` for the caller to
    /// reset or close. Returns whether a holder lost it (false for a lease not yet handed over,
    /// which is not counted).
    @usableFromInline
    @discardableResult
    mutating func revokeLease(_ pool: Int, _ slot: Int, _ reason: RevokeReason, into actions: inout PoolActions) -> Bool {
        guard let record = self.pools[pool].slots[slot].lease else { return false }
        let lease = self.leaseID(pool, slot, serial: record.serial)
        self.pools[pool].endLease(slot)
        if record.handedOver {
            if reason == .expired {
                self.pools[pool].totals.expired += 1
            } else {
                self.pools[pool].totals.revoked += 1
            }
        }
        actions.append(.revoke(lease, self.connectionID(pool, slot), reason))
        return record.handedOver
    }

    /// A connection whose transaction state is unknown or dirty comes back: roll it back before
    /// anyone else gets it, unless it is closing anyway (closing rolls back too).
    @usableFromInline
    mutating func resetOrClose(_ pool: Int, _ slot: Int, now: Duration, into actions: inout PoolActions) {
        if !self.pools[pool].isRunning || self.shuttingDown {
            self.closeSlot(pool, slot, self.drainReason, into: &actions)
        } else if let reason = self.retireReason(pool, slot, now: now) {
            self.closeSlot(pool, slot, reason, into: &actions)
            self.provision(pool, now: now, into: &actions)
        } else {
            self.setPhase(pool, slot, .resetting)
            actions.append(.reset(self.connectionID(pool, slot)))
        }
    }

    @usableFromInline
    mutating func armLeaseTimer(_ pool: Int, _ slot: Int, at deadline: Duration, now: Duration, into actions: inout PoolActions) {
        if let armed = self.pools[pool].slots[slot].leaseTimer, armed <= deadline { return }
        self.pools[pool].slots[slot].leaseTimer = deadline
        actions.append(.schedule(PoolTimer(kind: .leaseExpiry(self.connectionID(pool, slot)), delay: deadline - now)))
    }
}
