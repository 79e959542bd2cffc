import Foundation
import PoolCore
import PostgresLibPQ

extension PoolRegistry {
    /// Carries out PoolCore's actions in order, under the lock: bookkeeping changes with the
    /// decision, I/O and timers start as tasks (starting a task does not wait for it), and borrow
    /// answers and signals are collected in `effects` for after the lock.
    func apply(_ actions: PoolActions, to state: inout RegistryState, now: ContinuousClock.Instant, effects: inout RegistryEffects) {
        for action in actions {
            switch action {
            case .grant(let grant):
                granted(grant, &state, now: now, effects: &effects)
            case .fail(let request, _, let failure):
                failed(request, failure, &state, now: now, effects: &effects)
            case .open(let id, let pool, let attempt):
                startConnect(id, pool: pool, attempt: attempt, &state)
            case .reset(let id):
                startReset(id, &state)
            case .healthCheck(let id):
                startCheck(id, &state)
            case .close(let id, let reason):
                startClose(id, reason, &state)
            case .revoke(let lease, _, let reason):
                revoked(lease, reason, &state, now: now)
            case .schedule(let timer):
                schedule(timer, &state, now: now)
            case .cancel(let kind):
                state.timers[kind] = nil
            case .poolClosed(let id):
                if let entry = state.pools.removeValue(forKey: id) {
                    // Unless a new pool took the name, and with it the same metrics.
                    if state.poolIDs[entry.settings.name] == nil { entry.metrics.recordClosed() }
                    logger.info("pool closed", metadata: ["pool": "\(entry.settings.name)"])
                }
                if let signal = state.poolClosedSignals.removeValue(forKey: id) {
                    effects.signals.append(signal)
                }
            case .shutdownComplete:
                effects.signals.append(shutdownSignal)
            }
        }
    }

    /// A borrow got a lease: a new one gets its token and entry, an idempotent hit the existing token.
    private func granted(_ grant: LeaseGrant, _ state: inout RegistryState, now: ContinuousClock.Instant, effects: inout RegistryEffects) {
        guard let waiter = state.borrows[grant.request], let entry = state.pools[grant.pool],
            let connection = state.group.connection(grant.connectionID)
        else {
            // No borrow asked for this (it cannot happen): give the connection back rather than leak it.
            if !grant.reused {
                apply(state.group.release(grant.lease, .needsReset, now: now), to: &state, now: now, effects: &effects)
            }
            return
        }
        let wall = Date()
        let token: String
        let lease: LeaseEntry
        let needsTag: Bool
        if grant.reused {
            guard let existing = state.tokens[grant.lease], let live = state.leases[existing] else {
                resolve(grant.request, .failure(.internal("the lease for this key is gone")), &state, effects: &effects)
                return
            }
            token = existing
            lease = live
            needsTag = false
            if !live.handedOver {
                // The same key again while the first borrow still tags the lease: this caller has
                // the token now, so the lease counts and a revoke answers 410 from here on.
                state.leases[existing]?.handedOver = true
                state.group.handOver(grant.lease)
            }
        } else {
            token = waiter.token
            needsTag = entry.settings.applicationNameTagging && waiter.tagging
            lease = LeaseEntry(
                lease: grant.lease,
                pool: grant.pool,
                poolName: entry.settings.name,
                caller: waiter.caller,
                key: state.group.lease(grant.lease)?.key,
                connectionID: grant.connectionID,
                connection: connection,
                createdAt: wall,
                busy: needsTag,
                handedOver: !needsTag
            )
            state.tokens[grant.lease] = token
            state.leases[token] = lease
            if needsTag {
                // Until the tag is set the lease is in use: it must not expire under the tagging.
                _ = state.group.leaseTouched(grant.lease, running: true, now: now)
                // Nor is it anyone's yet: counted as a borrow once handed over (see `tag`).
                state.group.deferHandover(grant.lease)
            }
            if !waiter.tagging {
                // A single shot: its statement follows in the same request, so the lease is in use
                // from now on; it must not expire while that request waits for a thread (issue 12).
                _ = state.group.leaseTouched(grant.lease, running: true, now: now)
            }
        }
        let view = LeaseView(
            token: token,
            tokenPrefix: LeaseToken.displayPrefix(token),
            pool: entry.settings.name,
            caller: lease.caller,
            connectionID: Int(grant.connectionID.serial),
            backendPID: connection.backendPID,
            createdAt: lease.createdAt,
            expiresAt: wall.addingTimeInterval(WallClock.seconds(grant.expiresIn)),
            lastUsedAt: lease.lastUsedAt,
            ttl: state.group.lease(grant.lease)?.ttl ?? grant.expiresIn,
            key: lease.key,
            transactionStatus: grant.reused ? (lease.busy ? .active : connection.transactionStatus) : .idle
        )
        let answer = BorrowGrant(
            token: token,
            lease: grant.lease,
            connection: connection,
            created: !grant.reused,
            needsTag: needsTag,
            wait: waiter.wait,
            view: view,
            metrics: entry.metrics
        )
        resolve(grant.request, .success(answer), &state, effects: &effects)
    }

    private func failed(
        _ request: UInt64,
        _ failure: BorrowFailure,
        _ state: inout RegistryState,
        now: ContinuousClock.Instant,
        effects: inout RegistryEffects
    ) {
        guard let waiter = state.borrows[request] else { return }
        let pool = waiter.poolName
        let entry = state.poolIDs[pool].flatMap { state.pools[$0] }
        let retryAfter = Self.retryAfter(waiter.wait)
        let error: WardenError
        switch failure {
        case .timeout, .paused, .callerQuota, .serverBudgetExhausted:
            error = switch failure {
            case .paused: .poolPaused(pool: pool, waited: waiter.wait, retryAfterSeconds: retryAfter)
            case .serverBudgetExhausted(let server, let limit):
                .serverBudgetExhausted(
                    pool: pool, server: state.servers.first { $0.id == server }?.label ?? "of this pool", limit: limit,
                    waited: waiter.wait, retryAfterSeconds: retryAfter
                )
            case .callerQuota:
                .callerQuota(
                    pool: pool, limit: entry.map { $0.settings.maxPerCaller ?? $0.settings.max } ?? 0,
                    waited: waiter.wait, retryAfterSeconds: retryAfter
                )
            default: .poolExhausted(pool: pool, waited: waiter.wait, retryAfterSeconds: retryAfter)
            }
        case .tooManyWaiting:
            error = .tooManyWaiting(pool: pool, limit: entry?.settings.waitingLimit ?? 0)
        case .connectFailed(let lastError):
            error = .connectFailed(pool: pool, message: lastError ?? "the server cannot be reached")
        case .cancelled:
            // Nobody reads this: the borrowing task is gone.
            error = .poolExhausted(pool: pool, waited: now - waiter.startedAt, retryAfterSeconds: 1)
        case .poolDraining, .poolNotFound:
            error = .poolNotFound(pool)
        case .shutdown:
            error = .shuttingDown
        case .duplicateRequest:
            error = .internal("duplicate borrow request")
        }
        resolve(request, .failure(error), &state, effects: &effects)
    }

    /// Answers a borrow now if its task waits, or leaves the answer for it to pick up.
    private func resolve(
        _ request: UInt64,
        _ result: Result<BorrowGrant, WardenError>,
        _ state: inout RegistryState,
        effects: inout RegistryEffects
    ) {
        guard let waiter = state.borrows[request] else { return }
        switch waiter.phase {
        case .pending:
            state.borrows[request]?.phase = .done(result)
        case .waiting(let continuation):
            state.borrows[request] = nil
            effects.answers.append((continuation, result))
        case .done:
            break
        }
    }

    /// The lease is gone without a release: its token answers 410 from now on. The close or reset
    /// PoolCore sends with it rolls back what it left open.
    private func revoked(_ lease: LeaseID, _ reason: RevokeReason, _ state: inout RegistryState, now: ContinuousClock.Instant) {
        guard let token = state.tokens.removeValue(forKey: lease), let entry = state.leases.removeValue(forKey: token) else { return }
        guard entry.handedOver else {
            // Nobody holds the token yet: the borrow that is tagging it finds the lease gone and
            // tries again, so the token never answers anything and the lease is counted nowhere.
            logger.debug("lease ended before its borrower got it", metadata: ["pool": "\(entry.poolName)", "reason": "\(reason)"])
            return
        }
        let ended: LeaseEndReason
        switch reason {
        case .expired: ended = .expired
        case .recycled, .revoked: ended = .revoked
        case .deleted: ended = .poolDeleted
        case .shutdown: ended = .shutdown
        case .slotLost: ended = .slotLost
        }
        state.ended.insert(token, caller: entry.caller, reason: ended, now: now)
        logger.info(
            "lease ended",
            metadata: [
                "pool": "\(entry.poolName)", "caller": "\(entry.caller)",
                "lease": "\(LeaseToken.displayPrefix(token))", "reason": "\(ended.rawValue)",
            ]
        )
    }

    /// Seconds a client told `pool_exhausted`, `pool_paused`, `server_budget_exhausted` or
    /// `caller_quota` should wait before trying again.
    static func retryAfter(_ waited: Duration) -> Int {
        let seconds = waited.components.seconds + (waited.components.attoseconds > 0 ? 1 : 0)
        return Int(Swift.max(1, Swift.min(30, seconds)))
    }
}
