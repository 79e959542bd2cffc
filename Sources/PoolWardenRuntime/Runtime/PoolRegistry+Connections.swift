import PoolCore
import PostgresLibPQ

extension PoolRegistry {
    /// Starts a connect for PoolCore's `open`; PoolCore decides retries and backoff from what it
    /// reports.
    func startConnect(_ id: ConnectionID, pool: PoolID, attempt: Int, _ state: inout RegistryState) {
        guard let entry = state.pools[pool] else {
            let task = Task { self.report { $0.connectFailed(id, error: "the pool is gone", now: $1) } }
            state.connects[id] = RegistryState.ConnectEntry(pool: pool, task: task)
            return
        }
        let settings = entry.settings
        // connectTimeout nil: the conninfo's connect_timeout, else the driver's ten seconds.
        let options = Self.connectOptions(settings, applicationName: entry.applicationName, clustered: admission != nil)
        let base = entry.applicationName
        let claim = admission.map { _ in
            AdmissionRequest(
                connection: id, pool: settings.name, poolMax: settings.max,
                budget: entry.server.flatMap { server in state.servers.first { $0.id == server } }.map { budget in
                    AdmissionRequest.Budget(label: budget.label, max: state.group.serverUsage(budget.id)?.limit ?? 0)
                },
                conninfo: settings.conninfo, password: settings.password
            )
        }
        // On a reactor thread, as every task here: a connect, reset, check or close must not wait
        // for a cooperative or event-loop thread that other work holds (issue 12).
        let task = Task(executorPreference: PGConnection.ioExecutor) {
            if let admission = self.admission, let claim {
                if case .unavailable(let why) = await admission.admit(claim) {
                    self.logger.debug("no global slot free; the pool waits for one", metadata: ["pool": "\(settings.name)", "why": "\(why)"])
                    self.report { group, now in group.connectDeferred(id, now: now) } onLock: { $0.connects[id] = nil }
                    return
                }
            }
            await self.connect(id, pool: pool, name: settings.name, options: options, base: base, attempt: attempt)
        }
        state.connects[id] = RegistryState.ConnectEntry(pool: pool, task: task)
    }

    private func connect(
        _ id: ConnectionID,
        pool: PoolID,
        name: String,
        options: PGConnectOptions,
        base: String,
        attempt: Int
    ) async {
        let connection: ServerConnection
        let started = ContinuousClock.now
        do {
            connection = ServerConnection(try await PGConnection.connect(options), pool: pool, baseApplicationName: base)
        } catch {
            let message: String
            if let error = error as? PGError {
                message = PGRedaction.redact(error.message, secrets: options.password.map { [$0] } ?? [])
                logger.warning("connect failed", metadata: ["pool": "\(name)", "attempt": "\(attempt)", "error": "\(message)"])
            } else {
                message = "the connect was cancelled"
            }
            await admission?.release(id)
            report { group, now in
                group.connectFailed(id, error: message, now: now)
            } onLock: { state in
                state.connects[id] = nil
            }
            return
        }
        // How long PostgreSQL took to accept: the part of a slow first borrow that is the server's.
        let took = (ContinuousClock.now - started).formatted(.units(allowed: [.milliseconds]))
        logger.debug("connected", metadata: ["pool": "\(name)", "connection": "\(id.serial)", "backend_pid": "\(connection.backendPID)", "took": "\(took)"])
        let effects = state.withLock { state -> RegistryEffects in
            state.connects[id] = nil
            let now = ContinuousClock.now
            var effects = RegistryEffects()
            apply(state.group.connectionOpened(id, connection, now: now), to: &state, now: now, effects: &effects)
            if state.group.connection(id) !== connection {
                // The slot went away while connecting (its pool was deleted): nobody owns this one.
                effects.strays.append((id, connection))
            }
            return effects
        }
        perform(effects)
    }

    /// Makes a returned session as a fresh one would be (the pool's `reset`: a ROLLBACK if needed,
    /// `DISCARD ALL`, the operator's statement, in one round trip), which also puts
    /// application_name back to the startup value; a connection that cannot be reset is closed by
    /// PoolCore.
    func startReset(_ id: ConnectionID, _ state: inout RegistryState) {
        guard let connection = state.group.connection(id), let settings = state.pools[connection.pool]?.settings else {
            Task { self.report { $0.resetFailed(id, now: $1) } }
            return
        }
        let discardAll = settings.reset == .discardAll
        let statement = settings.resetStatement
        Task(executorPreference: connection.pg.executor) {
            let (result, _) = await connection.run(deadline: Self.resetDeadline) { pg in
                try await pg.reset(discardAll: discardAll, statement: statement)
            }
            var succeeded = (try? result.get()) != nil
            if succeeded, discardAll {
                connection.forgetTag()
            } else if succeeded, connection.tag != nil {
                do {
                    try await connection.setApplicationName(nil, deadline: Self.quickOperationDeadline)
                } catch {
                    succeeded = false
                }
            }
            if !succeeded {
                self.logger.info("reset failed; closing the connection", metadata: ["connection": "\(id.serial)"])
            }
            self.report { group, now in
                succeeded ? group.resetSucceeded(id, now: now) : group.resetFailed(id, now: now)
            }
        }
    }

    /// `SELECT 1` on a connection idle longer than `health_check_after`, before it is handed out.
    func startCheck(_ id: ConnectionID, _ state: inout RegistryState) {
        guard let connection = state.group.connection(id) else {
            Task { self.report { $0.checkFailed(id, now: $1) } }
            return
        }
        Task(executorPreference: connection.pg.executor) {
            let (result, _) = await connection.run(deadline: Self.quickOperationDeadline, grace: .seconds(1)) { pg in
                try await pg.query("SELECT 1")
            }
            let passed = (try? result.get()) != nil
            if !passed {
                self.logger.info("health check failed", metadata: ["connection": "\(id.serial)"])
            }
            self.report { group, now in
                passed ? group.checkSucceeded(id, now: now) : group.checkFailed(id, now: now)
            }
        }
    }

    /// What a pool's connections are opened with. `client_connection_check_interval` makes a
    /// backend notice, within a second even in the middle of a statement, that PoolWarden hung
    /// up on it, and exit: a statement that ignores its cancel then cannot keep running past its
    /// connection's close (PostgreSQL 14 or later). It is a startup option, so `DISCARD ALL` puts
    /// it back if a caller changed it.
    ///
    /// In a cluster the server also probes the replica's socket (TCP keepalives every few
    /// seconds), so that the backends of a replica whose host vanished without closing its
    /// sockets exit by themselves, as its slots are freed.
    static func connectOptions(_ settings: PoolSettings, applicationName: String, clustered: Bool = false) -> PGConnectOptions {
        let written = (try? PGConninfo.parse(settings.conninfo).get())?["options"] ?? ""
        let keepalives = clustered ? serverKeepalives : ""
        let options = [written, "-c client_connection_check_interval=\(clientCheckInterval.milliseconds)", keepalives]
            .filter { !$0.isEmpty }
            .joined(separator: " ")
        return PGConnectOptions(
            conninfo: settings.conninfo,
            password: settings.password,
            applicationName: applicationName,
            parameters: ["options": options]
        )
    }

    static let clientCheckInterval: Duration = .seconds(1)

    /// The server side's keepalives in a cluster: a silent peer is given up after about
    /// 5 + 3 × 2 = 11 seconds.
    public static let serverKeepalives = "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3"

    /// Closes a connection (cancelling a statement it runs) and reports it closed once its backend
    /// has exited: until then it counts against `max` and the server budget (invariant 1). A
    /// backend that outlives the close is terminated first (see `terminate`).
    func startClose(_ id: ConnectionID, _ reason: CloseReason, _ state: inout RegistryState) {
        let connection = state.group.connection(id)
        var target: (pool: String, options: PGConnectOptions)?
        if let connection, let entry = state.pools[connection.pool] {
            target = (entry.settings.name, Self.connectOptions(entry.settings, applicationName: entry.applicationName))
            logger.debug(
                "closing connection",
                metadata: ["connection": "\(id.serial)", "backend_pid": "\(connection.backendPID)", "reason": "\(reason)"]
            )
        }
        Task(executorPreference: connection?.pg.executor ?? PGConnection.ioExecutor) {
            if let connection, await !connection.close(), let target {
                await self.terminate(connection.pg, id: id, pool: target.pool, options: target.options)
            }
            // The backend has exited: its slot may go to whoever asks next, here or elsewhere.
            await self.admission?.release(id)
            self.report { $0.connectionClosed(id, now: $1) } onLock: { $0.closingNotes[id] = nil }
        }
    }

    /// Ends a backend that outlived its connection's close, with `pg_terminate_backend` (which a
    /// role may use on its own backends) from another connection of its pool, or from a
    /// connection of its own when the pool is being deleted. Tries again, backing off, until the
    /// backend is gone — seen on the closed connection's socket, so also when the pool has no
    /// connection to spare or someone else ended it; meanwhile status says why the connection
    /// still counts. Gives up only once the registry has shut down.
    private func terminate(_ pg: PGConnection, id: ConnectionID, pool: String, options: PGConnectOptions) async {
        let pid = pg.backendPID
        var delay: Duration = .milliseconds(100)
        var shutdownSeen: ContinuousClock.Instant?
        while true {
            let outcome = await pg.waitForBackendExit(timeout: .zero) ? nil : await terminateOnce(pid: pid, pool: pool, options: options)
            guard let problem = outcome else {
                logger.info("backend terminated after its connection's close", metadata: ["pool": "\(pool)", "backend_pid": "\(pid)"])
                return
            }
            let note = "backend \(pid) did not exit after the close; pg_terminate_backend: \(problem)"
            let first = state.withLock { state -> Bool in
                defer { state.closingNotes[id] = note }
                return state.closingNotes[id] == nil
            }
            if first { logger.warning("backend outlived its connection", metadata: ["pool": "\(pool)", "backend_pid": "\(pid)", "problem": "\(problem)"]) }
            if state.withLock({ $0.group.isShuttingDown }) {
                let since = shutdownSeen ?? .now
                shutdownSeen = since
                if ContinuousClock.now - since > Self.closeWait { return }
            }
            if await pg.waitForBackendExit(timeout: delay) {
                logger.info("backend exited after its connection's close", metadata: ["pool": "\(pool)", "backend_pid": "\(pid)"])
                return
            }
            delay = Swift.min(delay * 2, .seconds(5))
        }
    }

    /// One attempt; nil once the backend is gone, else what stood in the way.
    private func terminateOnce(pid: Int32, pool: String, options: PGConnectOptions) async -> String? {
        let sql = "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1) OR pg_terminate_backend($1, 3000)"
        let parameters: [String?] = [String(pid)]
        do throws(WardenError) {
            let outcome = try await borrow(
                pool: pool, caller: Self.maintenanceCaller, ttl: .seconds(30), wait: .seconds(2), key: nil, tagging: false
            )
            guard let token = outcome.lease.token else { return "no lease token" }
            let result: PGQueryResult
            do throws(WardenError) {
                result = try await query(token: token, caller: Self.maintenanceCaller, sql: sql, parameters: parameters, timeout: .seconds(5))
            } catch {
                try? await release(token: token, caller: Self.maintenanceCaller)
                throw error
            }
            try? await release(token: token, caller: Self.maintenanceCaller)
            return result.rows.first?.first == .bool(true) ? nil : "the backend did not exit within 3 s"
        } catch .poolNotFound, .shuttingDown {
            // The pool is going away and lends no connection: a short-lived one of its own.
            do {
                let direct = try await PGConnection.connect(options)
                defer { direct.close() }
                let (result, _) = await direct.withDeadline(.seconds(5), grace: .seconds(1)) {
                    try await direct.query(sql, parameters)
                }
                return try result.get().rows.first?.first == .bool(true) ? nil : "the backend did not exit within 3 s"
            } catch {
                return "\(error)"
            }
        } catch {
            return error.detail
        }
    }

    /// Who borrows a connection of a pool to terminate a backend of that pool.
    static let maintenanceCaller = CallerIdentity(name: "poolwarden", role: .admin)
}

extension PoolRegistry: AdmissionHolder {
    public func slotsLost(_ ids: [ConnectionID]) {
        guard !ids.isEmpty else { return }
        logger.warning("connections lost their global slots; closing them", metadata: ["connections": "\(ids.count)"])
        report { group, now in group.retire(ids, now: now) }
    }

    public func shed(_ ids: [ConnectionID], count: Int) {
        guard count > 0 else { return }
        report { group, now in group.shed(ids, count: count, now: now) }
    }

    public func evictIdle(_ ids: [ConnectionID], count: Int) {
        guard count > 0, !ids.isEmpty else { return }
        report { group, now in group.evictIdle(ids, count: count, now: now) }
    }

    /// Why the cluster cannot open connections now (no coordination session with a server);
    /// empty for a single service. Readiness is false while there is any.
    public func clusterProblems() -> [String] {
        admission?.problems() ?? []
    }
}
