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
        entry.metrics.connectAttempts.increment()
        let settings = entry.settings
        // connectTimeout nil: the conninfo's connect_timeout, else the driver's ten seconds.
        let options = PGConnectOptions(
            conninfo: settings.conninfo,
            password: settings.password,
            applicationName: entry.applicationName
        )
        let base = entry.applicationName
        let metrics = entry.metrics
        // On a reactor thread, as every task here: a connect, reset, check or close must not wait
        // for a cooperative or event-loop thread that other work holds (issue 12).
        let task = Task(executorPreference: PGConnection.ioExecutor) {
            await self.connect(id, pool: pool, name: settings.name, options: options, base: base, attempt: attempt, metrics: metrics)
        }
        state.connects[id] = RegistryState.ConnectEntry(pool: pool, task: task)
    }

    private func connect(
        _ id: ConnectionID,
        pool: PoolID,
        name: String,
        options: PGConnectOptions,
        base: String,
        attempt: Int,
        metrics: WardenMetrics
    ) async {
        let connection: ServerConnection
        do {
            connection = ServerConnection(try await PGConnection.connect(options), pool: pool, baseApplicationName: base)
        } catch {
            let message: String
            if let error = error as? PGError {
                message = PGRedaction.redact(error.message, secrets: options.password.map { [$0] } ?? [])
                metrics.connectFailures.increment()
                logger.warning("connect failed", metadata: ["pool": "\(name)", "attempt": "\(attempt)", "error": "\(message)"])
            } else {
                message = "the connect was cancelled"
            }
            report { group, now in
                group.connectFailed(id, error: message, now: now)
            } onLock: { state in
                state.connects[id] = nil
            }
            return
        }
        logger.debug("connected", metadata: ["pool": "\(name)", "connection": "\(id.serial)", "backend_pid": "\(connection.backendPID)"])
        let effects = state.withLock { state -> RegistryEffects in
            state.connects[id] = nil
            let now = ContinuousClock.now
            var effects = RegistryEffects()
            apply(state.group.connectionOpened(id, connection, now: now), to: &state, now: now, effects: &effects)
            if state.group.connection(id) !== connection {
                // The slot went away while connecting (its pool was deleted): nobody owns this one.
                effects.strays.append(connection)
            }
            return effects
        }
        perform(effects)
    }

    /// Rolls back what a lease left open, runs the pool's reset statement, and puts the
    /// application_name back; a connection that cannot be reset is closed by PoolCore.
    func startReset(_ id: ConnectionID, _ state: inout RegistryState) {
        guard let connection = state.group.connection(id) else {
            Task { self.report { $0.resetFailed(id, now: $1) } }
            return
        }
        let statement = state.pools[connection.pool]?.settings.resetStatement
        Task(executorPreference: connection.pg.executor) {
            let (result, _) = await connection.run(deadline: Self.resetDeadline) { pg in
                try await pg.reset(statement: statement)
            }
            var succeeded = (try? result.get()) != nil
            if succeeded, connection.tag != nil {
                do {
                    try await connection.setApplicationName(nil, deadline: Self.quickOperationDeadline)
                } catch {
                    succeeded = false
                }
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

    /// Closes a connection (cancelling a statement it runs) and reports it closed once the
    /// connection has let go of its socket.
    func startClose(_ id: ConnectionID, _ reason: CloseReason, _ state: inout RegistryState) {
        let connection = state.group.connection(id)
        if let connection {
            logger.debug(
                "closing connection",
                metadata: ["connection": "\(id.serial)", "backend_pid": "\(connection.backendPID)", "reason": "\(reason)"]
            )
        }
        Task(executorPreference: connection?.pg.executor ?? PGConnection.ioExecutor) {
            await connection?.close()
            self.report { $0.connectionClosed(id, now: $1) }
        }
    }
}
