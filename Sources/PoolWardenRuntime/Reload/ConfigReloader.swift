import Logging
import Synchronization

/// Re-reads the config file and applies the difference to the running service without dropping a
/// lease (`SIGHUP`, `POST /v1/reload`, `poolwarden reload`).
///
/// The whole file is checked first — as `--check-config` does, then against what runs (a running
/// pool cannot move between server budgets) and by every ``ReloadParticipant`` — and a file with
/// any problem changes nothing. Then, each as its admin operation does: budgets change at once,
/// new pools start, changed pools take the file's settings as `PATCH` does (a changed conninfo or
/// password recycles gracefully), pools the file no longer lists are deleted, and the
/// participants (the callers among them) commit. The file becomes the source of truth again: a
/// pool of the file loses what the API changed in it (its drift), while a pool created over the
/// API that the file does not name stays, as PgBouncer's RELOAD leaves what its file does not
/// mention. Reloads run one at a time, in the order they were asked for.
public final class ConfigReloader: Sendable {
    private let source: ConfigSource?
    private let registry: PoolRegistry
    private let participants: [any ReloadParticipant]
    private let logger: Logger
    private let running: Mutex<WardenConfig>
    /// The last reload asked for; the next one waits for it.
    private let queue = Mutex<Task<Void, Never>?>(nil)

    /// - Parameters:
    ///   - source: the file to read again; nil when the service was built from a configuration in
    ///     memory, and then every reload is refused (`reload_unavailable`).
    ///   - configuration: the configuration the service runs with.
    ///   - participants: asked in this order, after the pools have been checked.
    public init(
        source: ConfigSource?,
        configuration: WardenConfig,
        registry: PoolRegistry,
        participants: [any ReloadParticipant],
        logger: Logger
    ) {
        self.source = source
        self.registry = registry
        self.participants = participants
        self.logger = logger
        self.running = Mutex(configuration)
    }

    /// The configuration in force: the last file applied, with the keys only a restart changes
    /// (``ReloadReport/restartRequired``) as the service started with them.
    public var configuration: WardenConfig {
        running.withLock { $0 }
    }

    /// Reloads once every earlier reload has finished. `trigger` names who asked, for the log.
    /// Throws ``WardenError/invalidConfig(_:)`` with every problem (nothing changed), or
    /// ``WardenError/reloadUnavailable(_:)``. Runs to its end even if the caller stops waiting.
    public func reload(trigger: String) async throws(WardenError) -> ReloadReport {
        let task = queue.withLock { last -> Task<Result<ReloadReport, WardenError>, Never> in
            let previous = last
            let next = Task { () -> Result<ReloadReport, WardenError> in
                await previous?.value
                do throws(WardenError) {
                    return .success(try await self.perform(trigger: trigger))
                } catch {
                    return .failure(error)
                }
            }
            last = Task { _ = await next.value }
            return next
        }
        return try await task.value.get()
    }

    private func perform(trigger: String) async throws(WardenError) -> ReloadReport {
        guard let source else {
            throw .reloadUnavailable("the service was started from a configuration in memory, not from a file; there is nothing to reload")
        }
        let old = configuration
        let new: WardenConfig
        do throws(ConfigError) {
            new = try source.load()
        } catch {
            throw refused(error.problems, trigger: trigger)
        }
        var problems: [ConfigProblem] = []
        if new.callers.isEmpty && !old.listen.isLoopback {
            problems.append(ConfigProblem(
                path: "callers",
                message: "with no callers every request is an admin, and the service listens on \(old.listen.host), not a loopback address (a new listen address needs a restart)"
            ))
        }
        let (plan, planProblems) = await registry.planReload(new)
        problems += planProblems
        var commits: [ReloadCommit] = []
        for participant in participants {
            do throws(ConfigError) {
                commits.append(try await participant.prepare(new, running: old))
            } catch {
                problems += error.problems
            }
        }
        guard problems.isEmpty else { throw refused(problems, trigger: trigger) }

        let (changes, failures) = await registry.applyReload(plan)
        var report = ReloadReport(changes: changes, restartRequired: Self.restartRequired(old, new), failures: failures)
        for commit in commits {
            report.changes += await commit()
        }
        running.withLock { $0 = Self.inForce(new, restartOnly: old) }
        log(report, trigger: trigger)
        return report
    }

    private func refused(_ problems: [ConfigProblem], trigger: String) -> WardenError {
        logger.error(
            "reload refused, nothing was changed: the config file is invalid",
            metadata: ["trigger": "\(trigger)", "problems": "\(ConfigError(problems: problems))"]
        )
        return .invalidConfig(problems)
    }

    private func log(_ report: ReloadReport, trigger: String) {
        for change in report.changes {
            logger.info("reload: \(change.detail)", metadata: ["trigger": "\(trigger)", "change": "\(change.kind.rawValue)", "name": "\(change.name)"])
        }
        for failure in report.failures {
            logger.error("reload: \(failure)", metadata: ["trigger": "\(trigger)"])
        }
        if !report.restartRequired.isEmpty {
            logger.warning(
                "reload: these keys changed in the file and take effect only at a restart",
                metadata: ["trigger": "\(trigger)", "keys": "\(report.restartRequired.joined(separator: ", "))"]
            )
        }
        logger.info("config reloaded", metadata: ["trigger": "\(trigger)", "changes": "\(report.changes.count)"])
    }

    /// The keys of the file only a restart applies, where `new` differs from what runs.
    static func restartRequired(_ old: WardenConfig, _ new: WardenConfig) -> [String] {
        var keys: [String] = []
        if old.listen.host != new.listen.host { keys.append("listen.host") }
        if old.listen.port != new.listen.port { keys.append("listen.port") }
        if old.requestTimeout != new.requestTimeout { keys.append("listen.request_timeout") }
        if old.maxClientConnections != new.maxClientConnections { keys.append("listen.max_connections") }
        if old.shutdownGrace != new.shutdownGrace { keys.append("shutdown_grace") }
        if old.maxBodyBytes != new.maxBodyBytes { keys.append("max_body_bytes") }
        if old.logLevel != new.logLevel { keys.append("log_level") }
        // Files of a TLS listener are reloaded (its participant); a listener turned to or from
        // TLS is a new listener.
        if (old.tls == nil) != (new.tls == nil) { keys.append("listen.tls") }
        // Replicas agree on their peers and key at start; a change reaches them by a rolling restart.
        if old.cluster != new.cluster { keys.append("cluster") }
        return keys
    }

    /// `new`, with the keys only a restart changes kept as they run (of `listen`, its address
    /// only: what else it holds is a participant's to apply).
    static func inForce(_ new: WardenConfig, restartOnly old: WardenConfig) -> WardenConfig {
        var config = new
        config.listen.host = old.listen.host
        config.listen.port = old.listen.port
        config.requestTimeout = old.requestTimeout
        config.maxClientConnections = old.maxClientConnections
        config.shutdownGrace = old.shutdownGrace
        config.maxBodyBytes = old.maxBodyBytes
        config.logLevel = old.logLevel
        if (old.tls == nil) != (new.tls == nil) { config.tls = old.tls }
        config.cluster = old.cluster
        return config
    }
}
