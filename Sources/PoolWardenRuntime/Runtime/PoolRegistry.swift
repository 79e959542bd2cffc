import CoreMetrics
import Logging
import PoolCore
import PostgresLibPQ
import Synchronization

/// Owns every pool of the service: one PoolCore ``PoolGroup`` driven with real libpq connections,
/// timers and retry-on-connect, plus the lease tokens callers hold.
///
/// All decisions are made under one lock, where PoolCore's group and the runtime's bookkeeping
/// change together; I/O (connects, statements, resets, closes) runs outside it in tasks that report
/// back as PoolCore events, and waiting borrows are answered after the lock is released.
public final class PoolRegistry: Sendable {
    let logger: Logger
    /// The backend given to `init`; nil means the global one (`MetricsSystem.factory`).
    let explicitMetricsFactory: (any MetricsFactory)?
    let state: Mutex<RegistryState>
    let shutdownSignal = CompletionSignal()
    /// Serves every timer (see `schedule`).
    let timer = DispatchTimer(label: "poolwarden.timers")
    /// This replica's name in a cluster, which its tokens carry; nil for a single service.
    public let replica: String?
    /// The cluster's global caps, asked before each connect; nil for a single service.
    let admission: (any ConnectionAdmission)?

    /// How long setting application_name, a health check or the untagging at release may take
    /// before the statement is cancelled (and the connection closed if that does not help).
    static let quickOperationDeadline: Duration = .seconds(5)
    /// The same for the rollback and reset statement after a lease.
    static let resetDeadline: Duration = .seconds(10)
    /// How long `deletePool` and `shutdown` wait for every connection to close.
    static let closeWait: Duration = .seconds(10)
    /// How often the gauges are sampled when nobody asks for them.
    static let metricsInterval: Duration = .seconds(1)

    /// - Parameters:
    ///   - pools: the pools to run; invalid or duplicate ones are logged and left out (the config
    ///     layer refuses them first).
    ///   - servers: budgets shared by every pool whose conninfo reaches that host and port (names
    ///     resolved, here and now: call it where blocking on DNS is acceptable, at startup).
    ///   - metricsFactory: where metrics go; nil means the backend bootstrapped into swift-metrics
    ///     (looked up again at `start()`, so the app may bootstrap it after making the registry).
    ///   - replica: this replica's name in a cluster, put into every token it gives out.
    ///   - admission: asked before every connect and told after every backend exit (the
    ///     cluster's slots); nil: PoolCore's caps alone.
    public init(
        pools: [PoolSettings],
        servers: [ServerBudgetSettings],
        logger: Logger,
        metricsFactory: (any MetricsFactory)? = nil,
        replica: String? = nil,
        admission: (any ConnectionAdmission)? = nil
    ) {
        self.logger = logger
        self.replica = replica
        self.admission = admission
        self.explicitMetricsFactory = metricsFactory
        var initial = RegistryState(group: PoolGroup(now: .now, random: SystemRandomNumberGenerator()))
        for budget in servers {
            let endpoints = ServerAddress.endpoints(budget)
            let label = "\(budget.host):\(budget.port)"
            if let earlier = initial.servers.budget(for: endpoints) {
                logger.error("server budget reaches the same server as an earlier one; the first one counts", metadata: ["server": "\(label)", "earlier": "\(earlier.label)"])
                continue
            }
            let id = initial.group.addServer(maxConnections: budget.maxConnections)
            let metrics = ServerMetrics(server: label, factory: metricsFactory ?? MetricsSystem.factory)
            initial.servers.append(ServerBudgetEntry(label: label, endpoints: endpoints, id: id, metrics: metrics))
        }
        self.state = Mutex(initial)
        timer.onFire { [weak self] in self?.timersDue() }
        admission?.bind(self)
        for settings in pools {
            do throws(WardenError) {
                try state.withLock { state throws(WardenError) in
                    let actions = try addPool(
                        settings, endpoints: ServerAddress.endpoints(conninfo: settings.conninfo), fromConfig: true, to: &state, now: .now
                    )
                    state.pendingStart.append(actions)
                }
            } catch {
                logger.error("pool left out", metadata: ["pool": "\(settings.name)", "error": "\(error.detail)"])
            }
        }
    }

    /// Opens each pool's first `min` connections and arms its timers; returns without waiting
    /// for the connects.
    public func start() async {
        let effects = state.withLock { state -> RegistryEffects in
            var effects = RegistryEffects()
            guard !state.started else { return effects }
            state.started = true
            if explicitMetricsFactory == nil {
                for (id, entry) in state.pools {
                    state.pools[id]?.metrics = WardenMetrics(pool: entry.settings.name, factory: MetricsSystem.factory)
                }
                for index in state.servers.indices {
                    state.servers[index].metrics = ServerMetrics(server: state.servers[index].label, factory: MetricsSystem.factory)
                }
            }
            startPending(&state, effects: &effects)
            state.metricsTask = Task { [weak self] in
                while !Task.isCancelled {
                    do { try await Task.sleep(for: Self.metricsInterval) } catch { return }
                    self?.checkIdleConnections()
                    self?.refreshMetrics()
                }
            }
            return effects
        }
        perform(effects)
        if let admission {
            let targets = state.withLock { state in state.pools.values.map { ($0.settings.conninfo, $0.settings.password) } }
            Task(executorPreference: PGConnection.ioExecutor) {
                for (conninfo, password) in targets { await admission.prepare(conninfo: conninfo, password: password) }
            }
        }
        logger.info("pools started", metadata: ["pools": "\(statuses().map(\.name).joined(separator: ","))"])
    }

    /// Rolls back and closes every server connection: waiting borrows fail, leases are revoked
    /// (their tokens answer 410), running statements are cancelled. Returns once no connection is
    /// left, or after 10 seconds. Idempotent.
    public func shutdown() async {
        let effects = state.withLock { state -> RegistryEffects in
            var effects = RegistryEffects()
            state.metricsTask?.cancel()
            state.metricsTask = nil
            guard !state.group.isShuttingDown else { return effects }
            // Connects of pools that never started must exist before they can be abandoned.
            startPending(&state, effects: &effects)
            state.started = true
            let now = ContinuousClock.now
            apply(state.group.shutdown(now: now), to: &state, now: now, effects: &effects)
            for connect in state.connects.values { connect.task.cancel() }
            return effects
        }
        perform(effects)
        if await shutdownSignal.wait(timeout: Self.closeWait) {
            logger.info("all server connections closed")
        } else {
            logger.warning("shutdown: connections still closing after the grace period")
        }
        state.withLock { state in state.timers = [:] }
        // Last: the slots go back only once every backend has exited.
        await admission?.shutdown()
    }

    /// Samples every pool's counts into its gauges and brings its counters up to its totals, and
    /// samples every server budget's use. The periodic sampling calls it; the `/metrics` handler
    /// calls it right before rendering, so that what it renders equals what status says.
    public func refreshMetrics() {
        let (pools, servers) = state.withLock { state -> ([(WardenMetrics, PoolStatusView.Counts)], [(ServerMetrics, Int, Int)]) in
            // Before start() the metrics may still be the placeholder backend's (see `start`):
            // nothing may be counted into them.
            guard state.started else { return ([], []) }
            var pools: [(WardenMetrics, PoolStatusView.Counts)] = []
            for index in state.pools.indices {
                let entry = state.pools.values[index]
                // A draining pool whose name a new pool took shares that pool's metrics: only the
                // live one is sampled.
                if let live = state.poolIDs[entry.settings.name], live != entry.id { continue }
                guard let status = state.group.status(entry.id) else { continue }
                entry.metrics.catchUp(to: status.totals, reported: &state.pools.values[index].reportedTotals)
                pools.append((entry.metrics, Self.counts(status.counts)))
            }
            let servers = state.servers.compactMap { budget in
                state.group.serverUsage(budget.id).map { (budget.metrics, $0.used, $0.limit) }
            }
            return (pools, servers)
        }
        for (metrics, counts) in pools { metrics.record(counts) }
        for (metrics, open, max) in servers { metrics.record(open: open, max: max) }
    }

    // MARK: Helpers

    /// Carries out the first actions of the pools `init` added, once.
    func startPending(_ state: inout RegistryState, effects: inout RegistryEffects) {
        guard !state.pendingStart.isEmpty else { return }
        let pending = state.pendingStart
        state.pendingStart = []
        let now = ContinuousClock.now
        for actions in pending {
            apply(actions, to: &state, now: now, effects: &effects)
        }
    }

    /// Adds a validated pool to PoolCore; returns its first actions.
    /// `named`: the addresses of the `servers:` entry the request named, which must be one;
    /// `fromConfig`: the pool comes from the config file, and status reports drift from it.
    func addPool(
        _ settings: PoolSettings,
        endpoints: Set<ServerAddress>?,
        named: Set<ServerAddress>? = nil,
        fromConfig: Bool = false,
        to state: inout RegistryState,
        now: ContinuousClock.Instant
    ) throws(WardenError) -> PoolActions {
        try PoolSettingsRules.validate(settings)
        guard state.poolIDs[settings.name] == nil else { throw .poolExists(settings.name) }
        var budget = state.servers.budget(for: endpoints)
        if let server = settings.server {
            guard let chosen = state.servers.first(where: { $0.label == server }) ?? state.servers.budget(for: named) else {
                let known = state.servers.map(\.label).joined(separator: ", ")
                throw .invalidRequest("no servers: entry \(server) (configured: \(known.isEmpty ? "none" : known))", field: "server")
            }
            budget = chosen
        }
        let server = budget?.id
        let added: (pool: PoolID, actions: PoolActions)
        do {
            added = try state.group.addPool(PoolSettingsRules.configuration(settings), server: server, now: now)
        } catch {
            throw .shuttingDown
        }
        for draining in state.pools.values where draining.settings.name == settings.name {
            draining.metrics.retireCounters()
        }
        state.poolIDs[settings.name] = added.pool
        state.pools[added.pool] = PoolEntry(
            id: added.pool,
            settings: settings,
            server: server,
            configured: fromConfig ? settings : nil,
            metrics: WardenMetrics(pool: settings.name, factory: explicitMetricsFactory ?? MetricsSystem.factory)
        )
        logger.info(
            "pool added",
            metadata: [
                "pool": "\(settings.name)", "conninfo": "\(settings.redactedConninfo)",
                "min": "\(settings.min)", "max": "\(settings.max)", "server_budget": "\(budget?.label ?? "none")",
            ]
        )
        return added.actions
    }

    /// Feeds one event to PoolCore under the lock, with `onLock`'s bookkeeping in the same step,
    /// and carries out its actions.
    func report(
        _ event: (inout PoolGroup<WardenPoolTypes>, ContinuousClock.Instant) -> PoolActions,
        onLock: (inout RegistryState) -> Void = { _ in }
    ) {
        let effects = state.withLock { state -> RegistryEffects in
            onLock(&state)
            let now = ContinuousClock.now
            var effects = RegistryEffects()
            let actions = event(&state.group, now)
            apply(actions, to: &state, now: now, effects: &effects)
            return effects
        }
        perform(effects)
    }

    /// Carries out what a locked step left for after the lock.
    func perform(_ effects: RegistryEffects) {
        for (continuation, result) in effects.answers {
            continuation.resume(returning: result)
        }
        for signal in effects.signals {
            signal.fire()
        }
        for change in effects.limitChanges {
            admission?.limitsChanged(pool: change.pool, max: change.max, budget: nil)
        }
        for stray in effects.strays {
            Task(executorPreference: stray.connection.pg.executor) {
                _ = await stray.connection.close()
                await self.admission?.release(stray.id)
            }
        }
    }

    static func counts(_ counts: PoolCounts) -> PoolStatusView.Counts {
        PoolStatusView.Counts(
            open: counts.open,
            idle: counts.idle,
            leased: counts.leased,
            opening: counts.opening,
            waiting: counts.waiting
        )
    }
}
