import PoolCore
import PostgresLibPQ

extension PoolRegistry {
    /// A pool's limits, counts, totals, last connect error and one row per connection. A pool
    /// being deleted is not found by name any more.
    public func status(pool: String) throws(WardenError) -> PoolStatusView {
        try state.withLock { state throws(WardenError) -> PoolStatusView in
            try statusView(pool, state)
        }
    }

    /// Every pool, sorted by name; a pool being deleted shows as `draining` until it is gone.
    public func statuses() -> [PoolStatusView] {
        state.withLock { state -> [PoolStatusView] in
            let wall = WallClock()
            let views = state.pools.values.compactMap { entry in
                state.group.status(entry.id).map { statusView(entry, $0, state, wall: wall) }
            }
            // Indices are sorted, not the views: moving a thousand large views through a merge
            // sort costs more than building them.
            let order = views.indices.sorted { a, b in
                (views[a].name, views[a].state == "draining" ? 1 : 0) < (views[b].name, views[b].state == "draining" ? 1 : 0)
            }
            return order.map { views[$0] }
        }
    }

    /// Per pool whether it can serve. A pool with `min` > 0 is not ready while it has no open
    /// connection (still connecting, or connects failing) or is degraded. One with `min` 0
    /// connects on demand and does not hold the service's readiness (nothing would retry its
    /// connect without traffic, and traffic needs readiness), but its reason says what is known:
    /// untested while it has no connection, or its last connect failed.
    public func readiness() -> [PoolReadiness] {
        state.withLock { state -> [PoolReadiness] in
            state.poolIDs.keys.sorted().compactMap { name -> PoolReadiness? in
                guard let id = state.poolIDs[name], let entry = state.pools[id], let status = state.group.status(id) else {
                    return nil
                }
                let failing = status.state == .degraded
                if entry.settings.min == 0 {
                    var reason: String?
                    if failing {
                        reason = "degraded (min is 0, so readiness does not wait for it): last connect failed" + (status.lastError.map { ": " + redacted($0, entry.settings) } ?? "")
                    } else if status.counts.open == 0 {
                        reason = "untested: min is 0 and no connection is open; the next borrow opens one"
                    }
                    return PoolReadiness(pool: name, ready: true, reason: reason)
                }
                if failing || status.counts.open == 0 {
                    let error = status.lastError.map { ": " + redacted($0, entry.settings) } ?? ""
                    let reason: String
                    if failing {
                        reason = "cannot connect" + error
                    } else {
                        reason = status.lastError == nil ? "connecting" : "connecting, last attempt failed" + error
                    }
                    return PoolReadiness(pool: name, ready: false, reason: reason)
                }
                return PoolReadiness(pool: name, ready: true, reason: nil)
            }
        }
    }

    /// The settings every pool runs with now (a pool being deleted left out), by name: what
    /// `GET /v1/config` writes out. Holds the resolved passwords: never for a status or a log.
    public func runningSettings() -> [PoolSettings] {
        state.withLock { state -> [PoolSettings] in
            state.poolIDs.keys.sorted().compactMap { name in state.poolIDs[name].flatMap { state.pools[$0]?.settings } }
        }
    }

    func statusView(_ name: String, _ state: borrowing RegistryState) throws(WardenError) -> PoolStatusView {
        guard let id = state.poolIDs[name], let entry = state.pools[id], let status = state.group.status(id) else {
            throw .poolNotFound(name)
        }
        return statusView(entry, status, state, wall: WallClock())
    }

    private func statusView(
        _ entry: PoolEntry,
        _ status: PoolGroup<WardenPoolTypes>.PoolStatus,
        _ state: borrowing RegistryState,
        wall: WallClock
    ) -> PoolStatusView {
        let now = wall.instant
        let totals = status.totals
        // Loops, not closures: a closure may not capture the borrowed state.
        var connections: [ConnectionView] = []
        for row in status.connections {
            var idle = now - row.lastUsedAt
            var prefix: String?
            if let lease = row.lease {
                prefix = state.tokens[lease].map(LeaseToken.displayPrefix)
                if let info = state.group.lease(lease) {
                    idle = info.running ? .zero : now - (info.expiresAt - info.ttl)
                }
            }
            connections.append(ConnectionView(
                id: Int(row.id.serial),
                backendPID: row.connection?.backendPID,
                state: row.state.rawValue,
                age: now - row.createdAt,
                idle: Swift.max(.zero, idle),
                caller: row.caller,
                tokenPrefix: prefix,
                note: state.closingNotes[row.id]
            ))
        }
        var server: String?
        for budget in state.servers where budget.id == entry.server {
            server = budget.label
        }
        var view = PoolStatusView(
            name: entry.settings.name,
            state: status.state.rawValue,
            min: status.limits.min,
            max: status.limits.max,
            maxPerCaller: status.limits.maxPerCaller,
            counts: Self.counts(status.counts),
            totals: PoolStatusView.Totals(
                borrows: totals.borrows,
                timeouts: totals.timeouts,
                connectAttempts: totals.connectAttempts,
                connectFailures: totals.connectFailures,
                expired: totals.expired,
                revoked: totals.revoked,
                recycled: totals.recycled,
                closed: totals.closed
            ),
            lastError: status.lastError.map { redacted($0, entry.settings) },
            connections: connections,
            settings: entry.shown.settings,
            passwordSet: entry.shown.passwordSet,
            server: server
        )
        if let configured = entry.configured {
            view.drift = entry.settings.drift(from: configured)
        } else {
            view.source = "api"
        }
        return view
    }

    private func redacted(_ message: String, _ settings: PoolSettings) -> String {
        PGRedaction.redact(message, secrets: (settings.password.map { [$0] } ?? []) + PGConninfo.secretValues(in: settings.conninfo))
    }
}
