import PoolCore
import PostgresLibPQ

extension PoolRegistry {
    /// Borrows a connection of `pool` for `caller`.
    ///
    /// Waits up to `wait` (else the pool's `borrow_timeout`; at most five minutes) first come,
    /// first served; a borrow whose caller holds its `max_per_caller` leases waits too, without
    /// holding up other callers. With a `key`, the caller's live lease with that key is answered
    /// again (`created` false). Cancelling the calling task (the HTTP client went away) withdraws a
    /// waiting borrow; a lease granted in the same instant is released, never leaked.
    ///
    /// Throws `poolNotFound`, `forbidden` (the caller may not use the pool), `invalidRequest`,
    /// `tooManyWaiting` (at once, when `max_waiting` borrows wait), and when the wait ends
    /// `poolPaused`, `serverBudgetExhausted`, `callerQuota`, `poolExhausted` (each with Retry-After seconds) or
    /// `connectFailed` (the libpq message, redacted); or `shuttingDown`.
    public func borrow(
        pool: String,
        caller: CallerIdentity,
        ttl: Duration?,
        wait: Duration?,
        key: String?
    ) async throws(WardenError) -> BorrowOutcome {
        try await borrow(pool: pool, caller: caller, ttl: ttl, wait: wait, key: key, tagging: true)
    }

    /// `borrow`, with the application_name tag optional (single-shot queries leave it out) and
    /// the HTTP client's hang-up, which withdraws the borrow as cancelling its task would.
    package func borrow(
        pool: String,
        caller: CallerIdentity,
        ttl: Duration?,
        wait: Duration?,
        key: String?,
        tagging: Bool,
        hangUp: ClientHangUp? = nil
    ) async throws(WardenError) -> BorrowOutcome {
        guard caller.mayUse(pool: pool) else { throw .forbidden("caller \(caller.name) may not use pool \(pool)") }
        if let ttl, ttl <= .zero { throw .invalidRequest("ttl_ms must be positive", field: "ttl_ms") }
        if let wait, wait < .zero { throw .invalidRequest("wait_ms must not be negative", field: "wait_ms") }
        if let key, key.isEmpty || key.utf8.count > 255 {
            throw .invalidRequest("key must be 1 to 255 bytes", field: "key")
        }
        let started = ContinuousClock.now
        var wait = wait.map { Swift.min($0, PoolSettingsRules.maxWait) }
        while true {
            let attemptStarted = ContinuousClock.now
            let grant = try await acquire(pool: pool, caller: caller.name, ttl: ttl, wait: wait, key: key, tagging: tagging, hangUp: hangUp)
            guard grant.created else { return BorrowOutcome(lease: grant.view, created: false, wait: grant.wait) }
            let usable = grant.needsTag ? await tag(grant, caller: caller.name) : true
            if Task.isCancelled || hangUp?.hasHungUp == true {
                if usable { giveBack(grant) }
                throw .poolExhausted(pool: pool, waited: ContinuousClock.now - started, retryAfterSeconds: 1)
            }
            guard usable else {
                // The connection died under the tagging (the pool replaces it) or the lease was
                // revoked meanwhile: the borrow tries again with what is left of its wait.
                let remaining = grant.wait - (ContinuousClock.now - attemptStarted)
                guard remaining > .zero else {
                    throw .poolExhausted(pool: pool, waited: grant.wait, retryAfterSeconds: Self.retryAfter(grant.wait))
                }
                wait = remaining
                continue
            }
            grant.metrics.borrowWait.recordNanoseconds(WardenMetrics.elapsed(ContinuousClock.now - started))
            logger.debug(
                "lease granted",
                metadata: [
                    "pool": "\(pool)", "caller": "\(caller.name)",
                    "lease": "\(grant.view.tokenPrefix)", "backend_pid": "\(grant.view.backendPID)",
                ]
            )
            return BorrowOutcome(lease: grant.view, created: true, wait: grant.wait)
        }
    }

    /// Asks PoolCore for a lease and waits for its answer.
    private func acquire(
        pool: String,
        caller: String,
        ttl: Duration?,
        wait: Duration?,
        key: String?,
        tagging: Bool,
        hangUp: ClientHangUp?
    ) async throws(WardenError) -> BorrowGrant {
        let candidate = LeaseToken.generate(owner: replica)
        let (request, id, immediate, effects) = try state.withLock {
            state throws(WardenError) -> (UInt64, PoolID, Result<BorrowGrant, WardenError>?, RegistryEffects) in
            guard !state.group.isShuttingDown else { throw .shuttingDown }
            guard let id = state.poolIDs[pool], let entry = state.pools[id] else { throw .poolNotFound(pool) }
            var effects = RegistryEffects()
            // A borrow that arrives before start() (the HTTP server may be up first) starts the pools.
            startPending(&state, effects: &effects)
            let request = state.nextRequest
            state.nextRequest &+= 1
            let now = ContinuousClock.now
            let wait = wait ?? Swift.min(entry.settings.borrowTimeout, PoolSettingsRules.maxWait)
            var waiter = BorrowWaiter(poolName: pool, caller: caller, token: candidate, wait: wait, startedAt: now)
            waiter.tagging = tagging
            state.borrows[request] = waiter
            let actions = state.group.borrow(request, pool: id, caller: caller, key: key, ttl: ttl, wait: wait, now: now)
            apply(actions, to: &state, now: now, effects: &effects)
            guard case .done(let result) = state.borrows[request]?.phase else { return (request, id, nil, effects) }
            state.borrows[request] = nil
            return (request, id, result, effects)
        }
        perform(effects)
        // Trace: each step of a borrow with its request number, to tell a borrow that waited for
        // a connection from one whose answer waited for a thread (issue 12).
        logger.trace("borrow queued", metadata: ["pool": "\(pool)", "request": "\(request)", "answered": "\(immediate != nil)"])
        if let immediate { return try immediate.get() }
        let watch = hangUp?.onHangUp { [self] in
            report { group, now in group.cancelBorrow(request, pool: id, now: now) }
        }
        defer { if let watch { hangUp?.remove(watch) } }
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<BorrowGrant, WardenError>, Never>) in
                let ready = state.withLock { state -> Result<BorrowGrant, WardenError>? in
                    guard let waiter = state.borrows[request] else { return .failure(.internal("the borrow was lost")) }
                    if case .done(let result) = waiter.phase {
                        state.borrows[request] = nil
                        return result
                    }
                    state.borrows[request]?.phase = .waiting(continuation)
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            self.report { group, now in group.cancelBorrow(request, pool: id, now: now) }
        }
        logger.trace("borrow resumed", metadata: ["pool": "\(pool)", "request": "\(request)", "granted": "\((try? result.get()) != nil)"])
        return try result.get()
    }

    /// Names the holder in application_name. False when the connection broke meanwhile (the lease
    /// is then given back as broken) or the lease was revoked.
    private func tag(_ grant: BorrowGrant, caller: String) async -> Bool {
        let name = "poolwarden:\(grant.view.pool):\(caller):\(grant.view.tokenPrefix)"
        var connectionUsable = true
        do {
            try await grant.connection.setApplicationName(name, deadline: Self.quickOperationDeadline)
        } catch {
            connectionUsable = (error as? PGError)?.connectionUsable ?? true
            logger.info("could not tag the connection", metadata: ["pool": "\(grant.view.pool)", "error": "\(error)"])
        }
        var alive = false
        report { group, now in
            guard alive else { return PoolActions() }
            if connectionUsable {
                _ = group.leaseTouched(grant.lease, running: false, now: now)
                group.handOver(grant.lease)
                return PoolActions()
            }
            alive = false
            return group.release(grant.lease, .broken, now: now)
        } onLock: { state in
            guard state.leases[grant.token]?.lease == grant.lease else { return }
            alive = true
            if connectionUsable {
                state.leases[grant.token]?.busy = false
                state.leases[grant.token]?.handedOver = true
            } else {
                state.leases[grant.token] = nil
                state.tokens[grant.lease] = nil
            }
        }
        return alive
    }

    /// Releases a lease its borrower can no longer take (the client went away meanwhile).
    private func giveBack(_ grant: BorrowGrant) {
        let effects = state.withLock { state -> RegistryEffects in
            var effects = RegistryEffects()
            guard let entry = state.leases[grant.token], entry.lease == grant.lease else { return effects }
            endLease(token: grant.token, entry, &state, now: .now, effects: &effects)
            return effects
        }
        perform(effects)
    }
}
