import Foundation
import PoolCore
import PostgresLibPQ

extension PoolRegistry {
    /// A live lease. Throws `leaseNotFound` for a token that is unknown, malformed, released or
    /// another caller's (unless `caller` is an admin), `leaseGone` for one that ended otherwise.
    public func lease(token: String, caller: CallerIdentity) throws(WardenError) -> LeaseView {
        try state.withLock { state throws(WardenError) -> LeaseView in
            let wall = WallClock()
            let entry = try ownedLease(token, caller, state, now: wall.instant)
            guard let view = leaseView(entry, token: token, state, wall: wall) else { throw .leaseNotFound }
            return view
        }
    }

    /// The live leases of a pool, oldest first: a client's own, every one for an admin. Tokens are
    /// shown by prefix only.
    public func leases(pool: String, caller: CallerIdentity) throws(WardenError) -> [LeaseView] {
        guard caller.mayUse(pool: pool) else { throw .forbidden("caller \(caller.name) may not use pool \(pool)") }
        return try state.withLock { state throws(WardenError) -> [LeaseView] in
            guard let id = state.poolIDs[pool] else { throw .poolNotFound(pool) }
            let wall = WallClock()
            var views: [LeaseView] = []
            for (token, entry) in state.leases where entry.pool == id && (caller.isAdmin || entry.caller == caller.name) {
                if let view = leaseView(entry, token: token, state, wall: wall) { views.append(view) }
            }
            return views.sorted { ($0.createdAt, $0.connectionID) < ($1.createdAt, $1.connectionID) }
        }
    }

    /// Runs one statement on the leased connection; transactions span calls.
    ///
    /// `timeout` (capped at the pool's `max_statement_timeout`, else the pool's
    /// `statement_timeout`) is enforced by cancelling the statement: `statementTimeout`, the lease
    /// stays usable. A SQL error is `sqlError` and the lease stays usable (inside a transaction,
    /// the transaction is then failed, as in psql). A lost connection ends the lease:
    /// `leaseGone(.connectionLost)`, and the pool replaces the connection. A second statement
    /// while one runs is `leaseBusy`.
    public func query(
        token: String,
        caller: CallerIdentity,
        sql: String,
        parameters: [String?],
        timeout: Duration?
    ) async throws(WardenError) -> PGQueryResult {
        try await query(token: token, caller: caller, sql: sql, parameters: parameters, timeout: timeout, resetAfter: false)
    }

    /// `query`; with `resetAfter` (a single shot, whose lease ends with this statement) the pool's
    /// `DISCARD ALL` follows the statement in the same round trip, so the connection goes back
    /// clean without a reset of its own.
    func query(
        token: String,
        caller: CallerIdentity,
        sql: String,
        parameters: [String?],
        timeout: Duration?,
        resetAfter: Bool
    ) async throws(WardenError) -> PGQueryResult {
        logger.trace("statement", metadata: ["lease": "\(LeaseToken.displayPrefix(token))", "sql": "\(sql)"])
        let run = try await onLease(token: token, caller: caller, timeout: timeout, statements: 1, resetAfter: resetAfter) { pg, job in
            guard !job.resets.isEmpty else { return (try await pg.query(sql, parameters, limits: job.limits), false) }
            let outcomes = try await pg.pipeline([PGStatement(sql, parameters, limits: job.limits)] + job.resets)
            // DISCARD ALL refuses to run inside a transaction the statement opened: the release
            // then resets the usual way.
            let pristine = outcomes.dropFirst().allSatisfy { (try? $0.get()) != nil } && pg.transactionStatus == .idle
            return (try outcomes[0].get(), pristine)
        }
        return run.value
    }

    /// What a lease's operation works with: the pool's result limits and, when the lease ends
    /// with it, the reset to append to its round trip.
    struct LeaseJob: Sendable {
        var limits: PGResultLimits
        var resets: [PGStatement]
        /// A streamed answer's limits (`max_stream_rows`, `max_stream_bytes`).
        var streamLimits = PGResultLimits.unlimited
        /// When the operation's time limit ends: a stream waiting for its reader is held to it
        /// too, where the driver's own deadline only sees time spent on the socket.
        var deadline: ContinuousClock.Instant?
    }

    /// A lease's operation's value, and what its errors are judged by.
    struct LeaseRun<T: Sendable>: Sendable {
        var value: T
        var timedOut: Bool
        var limit: Duration?
    }

    /// Runs `body` as the lease's one operation: the lease is busy meanwhile (a second call is
    /// `leaseBusy`), the operation is bounded by the statement timeout (`timeout`, capped at the
    /// pool's `max_statement_timeout`, else its `statement_timeout`), and afterwards the lease is
    /// usable again, or ended when its connection broke (`leaseGone(.connectionLost)`). `body`
    /// answers its value and whether the session is clean (the job's resets all ran).
    /// `statements` is checked against the pool's `max_statements`.
    func onLease<T: Sendable>(
        token: String,
        caller: CallerIdentity,
        timeout: Duration?,
        statements: Int,
        resetAfter: Bool,
        _ body: (PGConnection, LeaseJob) async throws -> (T, pristine: Bool)
    ) async throws(WardenError) -> LeaseRun<T> {
        let (entry, limit, job, metrics) = try state.withLock {
            state throws(WardenError) -> (LeaseEntry, Duration?, LeaseJob, WardenMetrics?) in
            let now = ContinuousClock.now
            let entry = try ownedLease(token, caller, state, now: now)
            guard !entry.busy, !entry.releasing else { throw .leaseBusy }
            guard let pool = state.pools[entry.pool] else { throw .leaseGone(reason: .poolDeleted) }
            try PoolSettingsRules.statementCount(statements, pool.settings)
            let limit = try PoolSettingsRules.statementTimeout(requested: timeout, pool.settings)
            state.leases[token]?.busy = true
            _ = state.group.leaseTouched(entry.lease, running: true, now: now)
            state.leases[token]?.pristine = false
            let limits = PGResultLimits(maxRows: pool.settings.maxResultRows, maxBytes: pool.settings.maxResultBytes)
            var resets: [PGStatement] = []
            if resetAfter, pool.settings.reset == .discardAll {
                resets = PGConnection.resetStatements(discardAll: true, statement: pool.settings.resetStatement)
            }
            var job = LeaseJob(limits: limits, resets: resets)
            job.streamLimits = PGResultLimits(maxRows: pool.settings.maxStreamRows ?? .max, maxBytes: pool.settings.maxStreamBytes ?? .max)
            job.deadline = limit.map { now.advanced(by: $0) }
            return (entry, limit, job, pool.metrics)
        }
        let started = ContinuousClock.now
        var pristine = false
        let (result, timedOut) = await entry.connection.run(deadline: limit) { pg in
            let (value, clean) = try await body(pg, job)
            pristine = clean
            return value
        }
        if pristine { entry.connection.forgetTag() }
        metrics?.queryDuration.recordNanoseconds(WardenMetrics.elapsed(ContinuousClock.now - started))
        let value = try finishStatement(token: token, entry: entry, result: result, timedOut: timedOut, limit: limit, pristine: pristine)
        return LeaseRun(value: value, timedOut: timedOut, limit: limit)
    }

    /// Borrows (waiting up to `wait`, else the pool's `borrow_timeout`), runs one statement, and releases (rolling back
    /// whatever the statement left open).
    ///
    /// A connection that died while it sat idle (a server restart, `pg_terminate_backend`) is
    /// found before the statement is sent: it is replaced and the borrow repeated within the same
    /// wait, so the caller never sees it. One that breaks after the statement was sent is
    /// `connectionLost` (502): whether the statement ran is unknown. A client that hangs up while
    /// the borrow waits (`hangUp`) withdraws it: the statement never runs.
    public func queryOnce(
        pool: String,
        caller: CallerIdentity,
        sql: String,
        parameters: [String?],
        timeout: Duration?,
        wait: Duration? = nil
    ) async throws(WardenError) -> PGQueryResult {
        try await queryOnce(pool: pool, caller: caller, sql: sql, parameters: parameters, timeout: timeout, wait: wait, hangUp: nil)
    }

    /// A request's `timeout_ms`, when given, must be above zero: the one check of the single
    /// shot, its streamed form and a transaction in one call.
    static func requirePositive(_ timeout: Duration?) throws(WardenError) {
        if let timeout, timeout <= .zero { throw .invalidRequest("timeout_ms must be positive", field: "timeout_ms") }
    }

    package func queryOnce(
        pool: String,
        caller: CallerIdentity,
        sql: String,
        parameters: [String?],
        timeout: Duration?,
        wait: Duration?,
        hangUp: ClientHangUp?
    ) async throws(WardenError) -> PGQueryResult {
        try Self.requirePositive(timeout)
        return try await once(pool: pool, caller: caller, wait: wait, hangUp: hangUp) { token throws(WardenError) in
            try await query(token: token, caller: caller, sql: sql, parameters: parameters, timeout: timeout, resetAfter: true)
        }
    }

    /// A single shot's lease around `body`: borrows without tagging (waiting up to `wait`), runs
    /// `body` with the token, and releases, whatever `body` did.
    ///
    /// A connection that died while it sat idle is found before `body` runs, replaced, and the
    /// borrow repeated within the same wait; one lost while `body` ran is `connectionLost`.
    func once<T: Sendable>(
        pool: String,
        caller: CallerIdentity,
        wait: Duration?,
        hangUp: ClientHangUp?,
        _ body: (String) async throws(WardenError) -> T
    ) async throws(WardenError) -> T {
        var wait = wait
        // Each dead connection found is closed and replaced, so the loop ends; the cap guards
        // against a probe that fails without the connection being seen broken.
        var attempt = 0
        while true {
            attempt += 1
            let attemptStarted = ContinuousClock.now
            let outcome = try await borrow(pool: pool, caller: caller, ttl: nil, wait: wait, key: nil, tagging: false, hangUp: hangUp)
            guard let token = outcome.lease.token else { throw .internal("a new lease without its token") }
            guard attempt > 8 || connectionSeemsAlive(token) else {
                try? await release(token: token, caller: caller)
                let remaining = outcome.wait - (ContinuousClock.now - attemptStarted)
                guard remaining > .zero else {
                    throw .poolExhausted(pool: pool, waited: outcome.wait, retryAfterSeconds: Self.retryAfter(outcome.wait))
                }
                logger.info("single shot: replacing a connection found dead before use", metadata: ["pool": "\(pool)"])
                wait = remaining
                continue
            }
            let result: Result<T, WardenError>
            do {
                result = .success(try await body(token))
            } catch {
                result = .failure(error)
            }
            try? await release(token: token, caller: caller)
            switch result {
            case .failure(.leaseGone(reason: .poolDeleted)):
                throw .notReady("pool \(pool) was deleted while the statement ran")
            case .failure(.leaseGone(let reason)):
                throw .connectionLost(pool: pool, reason: reason)
            default:
                return try result.get()
            }
        }
    }

    /// Whether a lease's idle connection shows no sign of having died (see `PGConnection.probe`).
    private func connectionSeemsAlive(_ token: String) -> Bool {
        guard let connection = state.withLock({ $0.leases[token]?.connection }) else { return false }
        return connection.pg.probe()
    }

    /// Gives the lease back. The connection is reset before anyone else gets it (a broken one is
    /// closed and replaced). A statement running meanwhile is cancelled first; one that does not
    /// stop within ``releaseCancelWait`` has its connection closed, so the release answers within
    /// about a second whatever the server does. Throws `leaseNotFound` for an unknown or already
    /// released token, `leaseGone` for one that ended otherwise.
    public func release(token: String, caller: CallerIdentity) async throws(WardenError) {
        let (entry, effects, running) = try state.withLock { state throws(WardenError) -> (LeaseEntry, RegistryEffects, Bool) in
            let now = ContinuousClock.now
            let entry = try ownedLease(token, caller, state, now: now)
            var effects = RegistryEffects()
            if entry.busy {
                // A second release while the first cancels the statement: already released.
                guard !entry.releasing else { throw .leaseNotFound }
                state.leases[token]?.releasing = true
                return (entry, effects, true)
            }
            endLease(token: token, entry, &state, now: now, effects: &effects)
            return (entry, effects, false)
        }
        perform(effects)
        if running { await endRunningLease(token: token, entry) }
        logger.debug("lease released", metadata: ["pool": "\(entry.poolName)", "lease": "\(LeaseToken.displayPrefix(token))"])
    }

    /// How long a release waits for a cancelled statement to stop before closing its connection.
    static let releaseCancelWait: Duration = .seconds(1)

    /// Cancels the statement running on a lease and waits, up to ``releaseCancelWait``, for its
    /// task to finish it.
    private func stopStatement(token: String, _ entry: LeaseEntry) async {
        let deadline = ContinuousClock.now.advanced(by: Self.releaseCancelWait)
        _ = await entry.connection.pg.cancel(timeout: Self.releaseCancelWait)
        // The statement's own task ends it; polling keeps the lease's bookkeeping in one place.
        while ContinuousClock.now < deadline, state.withLock({ $0.leases[token]?.busy == true && $0.leases[token]?.lease == entry.lease }) {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    private func endRunningLease(token: String, _ entry: LeaseEntry) async {
        await stopStatement(token: token, entry)
        let effects = state.withLock { state -> RegistryEffects in
            var effects = RegistryEffects()
            guard let current = state.leases[token], current.lease == entry.lease else { return effects }
            let now = ContinuousClock.now
            if current.busy {
                // The statement ignored the cancel: its connection goes, and the slot counts until
                // its backend has exited.
                state.leases[token] = nil
                state.tokens[entry.lease] = nil
                state.ended.insert(token, caller: entry.caller, reason: .released, now: now)
                apply(state.group.release(entry.lease, .broken, now: now), to: &state, now: now, effects: &effects)
            } else {
                endLease(token: token, current, &state, now: now, effects: &effects)
            }
            return effects
        }
        perform(effects)
    }

    /// Revokes one live lease of `pool` whose token starts with `prefix` (admin): a running
    /// statement is cancelled, the session reset as at a release (the connection closed if the
    /// statement will not stop), and the token answers 410 `revoked` from then on. Returns the
    /// lease as it was. Throws `leaseNotFound` when no lease matches, `ambiguousPrefix` when several do.
    public func revoke(pool: String, prefix: String, caller: CallerIdentity) async throws(WardenError) -> LeaseView {
        guard caller.isAdmin else { throw .forbidden("only an admin may revoke another caller's lease") }
        guard prefix.hasPrefix("pwl_"), prefix.utf8.count >= 5 else {
            throw .invalidRequest("give the token's prefix as status shows it (pwl_ and at least one more character)", field: "prefix")
        }
        let (token, entry, view) = try state.withLock { state throws(WardenError) -> (String, LeaseEntry, LeaseView) in
            guard let id = state.poolIDs[pool] else { throw .poolNotFound(pool) }
            let matches = state.leases.filter { $0.value.pool == id && $0.value.handedOver && $0.key.hasPrefix(prefix) }
            guard matches.count <= 1 else { throw .ambiguousPrefix(prefix, matches: matches.count) }
            guard let (token, entry) = matches.first, !entry.releasing,
                let view = leaseView(entry, token: token, state, wall: WallClock())
            else { throw .leaseNotFound }
            state.leases[token]?.releasing = true
            return (token, entry, view)
        }
        if entry.busy { await stopStatement(token: token, entry) }
        let effects = state.withLock { state -> RegistryEffects in
            var effects = RegistryEffects()
            guard let current = state.leases[token], current.lease == entry.lease else { return effects }
            let now = ContinuousClock.now
            let reset = state.pools[entry.pool]?.settings.reset ?? .discardAll
            let disposition = current.busy ? .broken : Self.disposition(of: current, reset: reset)
            apply(state.group.revoke(entry.lease, disposition, now: now), to: &state, now: now, effects: &effects)
            return effects
        }
        perform(effects)
        logger.info(
            "lease revoked by an operator",
            metadata: ["pool": "\(pool)", "lease": "\(view.tokenPrefix)", "caller": "\(view.caller)", "admin": "\(caller.name)"]
        )
        return view
    }

    /// Extends a lease: it now expires `ttl` (or its current TTL) from now.
    public func renew(token: String, caller: CallerIdentity, ttl: Duration?) throws(WardenError) -> LeaseView {
        if let ttl, ttl <= .zero { throw .invalidRequest("ttl_ms must be positive", field: "ttl_ms") }
        let (view, effects) = try state.withLock { state throws(WardenError) -> (LeaseView, RegistryEffects) in
            let wall = WallClock()
            let entry = try ownedLease(token, caller, state, now: wall.instant)
            guard let renewed = state.group.renew(entry.lease, ttl: ttl, now: wall.instant) else { throw .leaseNotFound }
            var effects = RegistryEffects()
            apply(renewed.actions, to: &state, now: wall.instant, effects: &effects)
            guard let view = leaseView(entry, token: token, state, wall: wall) else { throw .leaseNotFound }
            return (view, effects)
        }
        perform(effects)
        return view
    }

    // MARK: Helpers

    /// The caller's live lease for `token`, or the error its token answers.
    func ownedLease(
        _ token: String,
        _ caller: CallerIdentity,
        _ state: borrowing RegistryState,
        now: ContinuousClock.Instant
    ) throws(WardenError) -> LeaseEntry {
        guard LeaseToken.isWellFormed(token) else { throw .leaseNotFound }
        if let entry = state.leases[token] {
            guard caller.isAdmin || entry.caller == caller.name else { throw .leaseNotFound }
            return entry
        }
        if let ended = state.ended.lookup(token, now: now), caller.isAdmin || ended.caller == caller.name {
            throw .leaseGone(reason: ended.reason)
        }
        throw .leaseNotFound
    }

    func leaseView(_ entry: LeaseEntry, token: String, _ state: borrowing RegistryState, wall: WallClock) -> LeaseView? {
        guard let info = state.group.lease(entry.lease) else { return nil }
        return LeaseView(
            token: nil,
            tokenPrefix: LeaseToken.displayPrefix(token),
            pool: entry.poolName,
            caller: entry.caller,
            connectionID: Int(entry.connectionID.serial),
            backendPID: entry.connection.backendPID,
            createdAt: entry.createdAt,
            expiresAt: wall.date(of: info.expiresAt),
            lastUsedAt: entry.lastUsedAt,
            ttl: info.ttl,
            key: entry.key,
            // Reading libpq's status while a statement runs would race the statement.
            transactionStatus: entry.busy ? .active : entry.connection.transactionStatus
        )
    }

    /// After a statement: the lease is usable again, or ended when its connection broke.
    private func finishStatement<T: Sendable>(
        token: String,
        entry: LeaseEntry,
        result: Result<T, any Error>,
        timedOut: Bool,
        limit: Duration?,
        pristine: Bool = false
    ) throws(WardenError) -> T {
        var lost = false
        if case .failure(let error) = result {
            lost = !((error as? PGError)?.connectionUsable ?? false) || !entry.connection.isUsable
        }
        let (outcome, effects) = state.withLock { state -> (Result<T, WardenError>, RegistryEffects) in
            let now = ContinuousClock.now
            var effects = RegistryEffects()
            guard state.leases[token]?.lease == entry.lease else {
                // Revoked while the statement ran (its connection was closed under it). A statement
                // that completed anyway, a COMMIT say, still reports its result.
                if case .success(let value) = result { return (.success(value), effects) }
                let reason = state.ended.lookup(token, now: now)?.reason ?? .revoked
                return (.failure(.leaseGone(reason: reason)), effects)
            }
            if lost {
                state.leases[token] = nil
                state.tokens[entry.lease] = nil
                state.ended.insert(token, caller: entry.caller, reason: .connectionLost, now: now)
                apply(state.group.release(entry.lease, .broken, now: now), to: &state, now: now, effects: &effects)
                return (.failure(.leaseGone(reason: .connectionLost)), effects)
            }
            state.leases[token]?.busy = false
            state.leases[token]?.pristine = pristine
            state.leases[token]?.lastUsedAt = Date()
            _ = state.group.leaseTouched(entry.lease, running: false, now: now)
            return (result.mapError { Self.wardenError($0, timedOut: timedOut, limit: limit) }, effects)
        }
        perform(effects)
        if lost, case .failure(let error) = result {
            logger.warning(
                "lease lost its connection",
                metadata: ["pool": "\(entry.poolName)", "lease": "\(LeaseToken.displayPrefix(token))", "error": "\(error)"]
            )
        }
        return try outcome.get()
    }

    static func wardenError(_ error: any Error, timedOut: Bool, limit: Duration?) -> WardenError {
        guard let error = error as? PGError else { return .internal("the statement failed: \(error)") }
        switch error.kind {
        case .resultTooLarge:
            return .resultTooLarge(error.message)
        case .sql where timedOut && error.sqlState == "57014":
            return .statementTimeout(limit ?? .zero)
        default:
            return .sqlError(error)
        }
    }

    /// Ends a lease its holder gave back: decides how the connection comes back (clean, to be
    /// reset, or broken) and tells PoolCore.
    func endLease(token: String, _ entry: LeaseEntry, _ state: inout RegistryState, now: ContinuousClock.Instant, effects: inout RegistryEffects) {
        state.leases[token] = nil
        state.tokens[entry.lease] = nil
        let reset = state.pools[entry.pool]?.settings.reset ?? .discardAll
        let actions = state.group.release(entry.lease, Self.disposition(of: entry, reset: reset), now: now)
        apply(actions, to: &state, now: now, effects: &effects)
    }

    /// Every connection a caller used is reset before it is reused (invariant 7), off the
    /// caller's path: the release answers at once and PoolCore runs the reset. Only a single
    /// shot's connection, reset in the statement's own round trip, comes back clean; with
    /// `reset: none`, an idle untagged one does too.
    static func disposition(of entry: LeaseEntry, reset: ResetMode) -> ReleaseDisposition {
        let connection = entry.connection
        guard connection.isUsable else { return .broken }
        switch connection.transactionStatus {
        case .idle:
            if entry.pristine { return .clean }
            return reset == .none && connection.tag == nil ? .clean : .needsReset
        case .inTransaction, .inFailedTransaction:
            return .needsReset
        case .active, .unknown:
            return .broken
        }
    }
}
