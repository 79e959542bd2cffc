import Logging
import PoolCore

extension PoolRegistry {
    /// Adds a pool at runtime and opens its first `min` connections. Its conninfo's host names are
    /// resolved (off the cooperative pool) to find the server budget it counts against.
    public func createPool(_ settings: PoolSettings) async throws(WardenError) -> PoolStatusView {
        try await createPool(settings, fromConfig: false)
    }

    /// `fromConfig`: the pool comes from the config file (a reload adds it), and status reports
    /// drift from it.
    func createPool(_ settings: PoolSettings, fromConfig: Bool) async throws(WardenError) -> PoolStatusView {
        let endpoints = await ServerAddress.resolveOffThread(settings.conninfo)
        let named = await settings.server.asyncMap { await ServerAddress.resolveBudgetOffThread($0) }
        let (view, effects) = try state.withLock { state throws(WardenError) -> (PoolStatusView, RegistryEffects) in
            let now = ContinuousClock.now
            let actions = try addPool(settings, endpoints: endpoints, named: named ?? nil, fromConfig: fromConfig, to: &state, now: now)
            var effects = RegistryEffects()
            apply(actions, to: &state, now: now, effects: &effects)
            return (try statusView(settings.name, state), effects)
        }
        perform(effects)
        return view
    }

    /// Changes a running pool: limits, timeouts, connect retry, result limits, tagging, and the
    /// conninfo or password for the connections opened from now on (see ``PoolPatch``).
    ///
    /// A conninfo that would move the pool to another server budget is refused: budgets are fixed
    /// when a pool is added.
    public func updatePool(_ name: String, _ patch: PoolPatch) async throws(WardenError) -> PoolStatusView {
        let endpoints = await patch.conninfo.asyncMap { await ServerAddress.resolveOffThread($0) }
        return try replaceSettings(name, endpoints: endpoints, recycle: patch.recycle) { patch.applied(to: $0) }
    }

    /// Puts new settings in force for a running pool, as `PATCH` does: limits and timeouts at once,
    /// the conninfo and password for connections opened from now on, then the recycle if asked.
    /// `endpoints`: where a changed conninfo reaches (nil when it did not change); `fromConfig`:
    /// the settings are the config file's (a reload), which status then measures drift from.
    func replaceSettings(
        _ name: String,
        endpoints: Set<ServerAddress>??,
        recycle: RecycleMode?,
        fromConfig: Bool = false,
        _ change: (PoolSettings) -> PoolSettings
    ) throws(WardenError) -> PoolStatusView {
        let (view, effects) = try state.withLock { state throws(WardenError) -> (PoolStatusView, RegistryEffects) in
            guard let id = state.poolIDs[name], var entry = state.pools[id] else { throw .poolNotFound(name) }
            let previous = entry.settings
            let settings = change(previous)
            try PoolSettingsRules.validate(settings)
            if settings.conninfo != previous.conninfo {
                let server = state.servers.budget(for: endpoints ?? nil)?.id
                guard server == entry.server else {
                    throw .invalidRequest(
                        "the new conninfo names a server with another connection budget; create a new pool instead",
                        field: "conninfo"
                    )
                }
            }
            entry.settings = settings
            if fromConfig { entry.configured = settings }
            state.pools[id] = entry
            let now = ContinuousClock.now
            var effects = RegistryEffects()
            apply(state.group.reconfigure(id, PoolSettingsRules.configuration(settings), now: now), to: &state, now: now, effects: &effects)
            if let recycle {
                let recycled = state.group.recycle(id, mode: Self.coreMode(recycle), olderThan: nil, now: now)
                apply(recycled.actions, to: &state, now: now, effects: &effects)
            }
            if settings.max != previous.max { effects.limitChanges.append((name, settings.max)) }
            logger.info(
                "pool updated",
                metadata: [
                    "pool": "\(name)", "min": "\(settings.min)", "max": "\(settings.max)",
                    "conninfo_changed": "\(settings.conninfo != previous.conninfo)",
                    "password_changed": "\(settings.password != previous.password)",
                    "recycle": "\(recycle?.rawValue ?? "none")",
                ]
            )
            return (try statusView(name, state), effects)
        }
        perform(effects)
        return view
    }

    /// Deletes a pool: waiting borrows fail, leases are revoked (rolled back, their tokens answer
    /// 410), every connection closes. Returns once none is left (0), or after 10 seconds with how
    /// many are still closing.
    @discardableResult
    public func deletePool(_ name: String) async throws(WardenError) -> Int {
        let (id, signal, effects) = try state.withLock { state throws(WardenError) -> (PoolID, CompletionSignal, RegistryEffects) in
            guard let id = state.poolIDs.removeValue(forKey: name) else { throw .poolNotFound(name) }
            let signal = CompletionSignal()
            state.poolClosedSignals[id] = signal
            let now = ContinuousClock.now
            var effects = RegistryEffects()
            apply(state.group.deletePool(id, revokeLeases: true, now: now), to: &state, now: now, effects: &effects)
            for connect in state.connects.values where connect.pool == id {
                connect.task.cancel()
            }
            return (id, signal, effects)
        }
        perform(effects)
        logger.info("pool deleting", metadata: ["pool": "\(name)"])
        if await signal.wait(timeout: Self.closeWait) { return 0 }
        let closing = state.withLock { state in state.group.status(id)?.connections.count ?? 0 }
        logger.warning("pool delete: connections still closing after the grace period", metadata: ["pool": "\(name)", "closing": "\(closing)"])
        return closing
    }

    /// Borrows wait instead of being served; leases go on.
    public func pause(_ name: String) throws(WardenError) -> PoolStatusView {
        try adminStep(name, log: "pool paused") { group, id, now in group.pause(id, now: now) }
    }

    /// Serves the borrows that waited during the pause, in order.
    public func resume(_ name: String) throws(WardenError) -> PoolStatusView {
        try adminStep(name, log: "pool resumed") { group, id, now in group.resume(id, now: now) }
    }

    /// Retires connections at least `olderThan` old (all when nil): idle ones close now; leased
    /// ones at release (`graceful`) or now with their leases revoked (`immediate`). Replacements
    /// open up to `min` and for waiting borrows.
    public func recycle(_ name: String, mode: RecycleMode, olderThan: Duration?) throws(WardenError) -> RecycleCounts {
        if let olderThan, olderThan < .zero {
            throw .invalidRequest("older_than_ms must not be negative", field: "older_than_ms")
        }
        let (counts, effects) = try state.withLock { state throws(WardenError) -> (RecycleCounts, RegistryEffects) in
            guard let id = state.poolIDs[name] else { throw .poolNotFound(name) }
            let now = ContinuousClock.now
            let recycled = state.group.recycle(id, mode: Self.coreMode(mode), olderThan: olderThan, now: now)
            var effects = RegistryEffects()
            apply(recycled.actions, to: &state, now: now, effects: &effects)
            let counts = recycled.counts
            return (counts, effects)
        }
        perform(effects)
        logger.info(
            "pool recycled",
            metadata: [
                "pool": "\(name)", "mode": "\(mode.rawValue)", "closed": "\(counts.closed)",
                "deferred": "\(counts.deferred)", "revoked": "\(counts.revoked)",
            ]
        )
        return counts
    }

    private func adminStep(
        _ name: String,
        log message: Logger.Message,
        _ event: (inout PoolGroup<WardenPoolTypes>, PoolID, ContinuousClock.Instant) -> PoolActions
    ) throws(WardenError) -> PoolStatusView {
        let (view, effects) = try state.withLock { state throws(WardenError) -> (PoolStatusView, RegistryEffects) in
            guard let id = state.poolIDs[name] else { throw .poolNotFound(name) }
            let now = ContinuousClock.now
            var effects = RegistryEffects()
            apply(event(&state.group, id, now), to: &state, now: now, effects: &effects)
            return (try statusView(name, state), effects)
        }
        perform(effects)
        logger.info(message, metadata: ["pool": "\(name)"])
        return view
    }

    static func coreMode(_ mode: RecycleMode) -> PoolCore.RecycleMode {
        switch mode {
        case .graceful: .graceful
        case .immediate: .immediate
        }
    }
}

extension Optional {
    func asyncMap<U>(_ transform: (Wrapped) async -> U) async -> U? {
        guard let self else { return nil }
        return await transform(self)
    }
}
