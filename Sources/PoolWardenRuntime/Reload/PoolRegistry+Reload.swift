import CoreMetrics
import Foundation
import PoolCore

extension PoolRegistry {
    /// What a reload does to the pools and `servers:` budgets, worked out against the pools that
    /// run now and checked before anything is applied.
    struct ReloadPlan: Sendable {
        struct Change: Sendable {
            var settings: PoolSettings
            var fields: [String]
            var recycle: Bool
        }

        var budgetsAdded: [(label: String, endpoints: Set<ServerAddress>, max: Int)] = []
        var budgetLimits: [(label: String, from: Int, to: Int)] = []
        var budgetsRemoved: [String] = []
        var poolsAdded: [PoolSettings] = []
        var poolsChanged: [Change] = []
        var poolsRemoved: [String] = []
    }

    private struct RunningPool {
        var settings: PoolSettings
        var fromConfig: Bool
        var budget: String?
    }

    /// The reload's plan for `new`, and every problem that refuses it. A running pool cannot move
    /// into, out of or between budgets (its connections were counted where it started), so a
    /// conninfo, an added or a removed budget that would move one is a problem of its field.
    func planReload(_ new: WardenConfig) async -> (plan: ReloadPlan, problems: [ConfigProblem]) {
        let (running, budgets) = state.withLock { state in
            let labels = Dictionary(state.servers.map { ($0.id, $0.label) }, uniquingKeysWith: { first, _ in first })
            let pools = state.poolIDs.compactMap { name, id -> (String, RunningPool)? in
                guard let entry = state.pools[id] else { return nil }
                return (name, RunningPool(settings: entry.settings, fromConfig: entry.configured != nil, budget: entry.server.flatMap { labels[$0] }))
            }
            let budgets = state.servers.map { budget -> (label: String, endpoints: Set<ServerAddress>, max: Int) in
                (budget.label, budget.endpoints, state.group.serverUsage(budget.id)?.limit ?? 0)
            }
            return (Dictionary(pools, uniquingKeysWith: { first, _ in first }), budgets)
        }
        let kept = running.filter { name, pool in !pool.fromConfig && !new.pools.contains { $0.name == name } }
        let resolved = await Self.resolveOffThread(
            budgets: new.servers, known: Set(budgets.map(\.label)), conninfos: new.pools.map(\.conninfo) + kept.values.map(\.settings.conninfo)
        )

        var plan = ReloadPlan()
        var problems: [ConfigProblem] = []
        let runningBudgets = Dictionary(budgets.map { ($0.label, $0) }, uniquingKeysWith: { first, _ in first })
        var newBudgets: [(label: String, endpoints: Set<ServerAddress>)] = []
        for budget in new.servers {
            let label = "\(budget.host):\(budget.port)"
            if let known = runningBudgets[label] {
                newBudgets.append((label, known.endpoints))
                if known.max != budget.maxConnections { plan.budgetLimits.append((label, known.max, budget.maxConnections)) }
            } else {
                let endpoints = resolved.budgets[label] ?? []
                newBudgets.append((label, endpoints))
                plan.budgetsAdded.append((label, endpoints, budget.maxConnections))
            }
        }
        plan.budgetsRemoved = budgets.map(\.label).filter { label in !newBudgets.contains { $0.label == label } }
        func budget(reaching conninfo: String) -> String? {
            guard let endpoints = resolved.conninfos[conninfo] ?? nil else { return nil }
            return newBudgets.first { !$0.endpoints.isDisjoint(with: endpoints) }?.label
        }
        func budgetField(_ label: String?) -> String {
            guard let label, let index = newBudgets.firstIndex(where: { $0.label == label }) else { return "servers" }
            return "servers[\(index)]"
        }
        func moved(_ pool: String, from old: String?, to new: String?) -> String {
            "pool \(pool) counts against \(old.map { "server budget \($0)" } ?? "no server budget") and would count against "
                + "\(new.map { "server budget \($0)" } ?? "none"); a running pool cannot move between budgets: restart to apply this, "
                + "or remove the pool in one reload and add it back in the next"
        }

        for (index, settings) in new.pools.enumerated() {
            guard let current = running[settings.name] else {
                plan.poolsAdded.append(settings)
                continue
            }
            let target = budget(reaching: settings.conninfo)
            if target != current.budget {
                let field = settings.conninfo != current.settings.conninfo ? "pools[\(index)].conninfo" : budgetField(target ?? current.budget)
                problems.append(ConfigProblem(path: field, message: moved(settings.name, from: current.budget, to: target)))
                continue
            }
            var fields = current.settings.drift(from: settings)
            if !current.fromConfig { fields.insert("source", at: 0) }
            guard !fields.isEmpty else { continue }
            let recycle = fields.contains("conninfo") || fields.contains("password_env")
            plan.poolsChanged.append(ReloadPlan.Change(settings: settings, fields: fields, recycle: recycle))
        }
        for (name, pool) in kept.sorted(by: { $0.key < $1.key }) {
            let target = pool.settings.server.map { named in newBudgets.contains { $0.label == named } ? named : nil }
                ?? budget(reaching: pool.settings.conninfo)
            if target != pool.budget {
                problems.append(ConfigProblem(path: budgetField(target ?? pool.budget), message: moved(name, from: pool.budget, to: target) + " (it was created over the API)"))
            }
        }
        plan.poolsRemoved = running.filter { name, pool in pool.fromConfig && !new.pools.contains { $0.name == name } }.keys.sorted()
        return (plan, problems)
    }

    /// Carries out a checked plan, budgets first (so that added pools find theirs and none joins
    /// a removed one), removed pools last, each as its admin operation does. Returns what changed; a step that failed anyway
    /// (a pool created over the API in between, say) is logged and listed in `failures`.
    func applyReload(_ plan: ReloadPlan) async -> (changes: [ReloadChange], failures: [String]) {
        var changes: [ReloadChange] = []
        var failures: [String] = []
        for label in plan.budgetsRemoved {
            removeBudget(label: label)
            changes.append(ReloadChange(kind: .serverRemoved, name: label, detail: "server budget \(label) removed"))
        }
        for budget in plan.budgetsAdded {
            addBudget(label: budget.label, endpoints: budget.endpoints, maxConnections: budget.max)
            changes.append(ReloadChange(kind: .serverAdded, name: budget.label, detail: "server budget \(budget.label) added: \(budget.max) connections"))
        }
        for budget in plan.budgetLimits {
            setBudget(label: budget.label, maxConnections: budget.to)
            changes.append(ReloadChange(
                kind: .serverChanged, name: budget.label, fields: ["max_connections"],
                detail: "server budget \(budget.label): max_connections \(budget.from) → \(budget.to)"
            ))
        }
        for settings in plan.poolsAdded {
            do throws(WardenError) {
                _ = try await createPool(settings, fromConfig: true)
                changes.append(ReloadChange(kind: .poolAdded, name: settings.name, detail: "pool \(settings.name) added (min \(settings.min), max \(settings.max))"))
            } catch {
                failures.append("pool \(settings.name) could not be added: \(error.detail)")
            }
        }
        for change in plan.poolsChanged {
            let name = change.settings.name
            let endpoints: Set<ServerAddress>?? = change.fields.contains("conninfo") ? .some(await ServerAddress.resolveOffThread(change.settings.conninfo)) : nil
            do throws(WardenError) {
                _ = try replaceSettings(name, endpoints: endpoints, recycle: change.recycle ? .graceful : nil, fromConfig: true) { _ in change.settings }
                var detail = "pool \(name): \(change.fields.joined(separator: ", ")) from the file"
                if change.recycle { detail += "; connections recycled gracefully (idle ones now, leased ones at release)" }
                changes.append(ReloadChange(kind: .poolChanged, name: name, fields: change.fields, detail: detail))
            } catch {
                failures.append("pool \(name) could not be changed: \(error.detail)")
            }
        }
        let removed = await withTaskGroup(of: ReloadChange?.self) { group in
            for name in plan.poolsRemoved {
                group.addTask {
                    guard let closing = try? await self.deletePool(name) else { return nil }
                    let still = closing == 0 ? "" : " (\(closing) connection(s) still closing)"
                    return ReloadChange(kind: .poolRemoved, name: name, detail: "pool \(name) removed: its leases were revoked and its connections closed\(still)")
                }
            }
            return await group.reduce(into: [ReloadChange]()) { if let change = $1 { $0.append(change) } }
        }
        changes += removed.sorted { $0.name < $1.name }
        return (changes, failures)
    }

    private func addBudget(label: String, endpoints: Set<ServerAddress>, maxConnections: Int) {
        state.withLock { state in
            let id = state.group.addServer(maxConnections: maxConnections)
            let metrics = ServerMetrics(server: label, factory: explicitMetricsFactory ?? MetricsSystem.factory)
            state.servers.append(ServerBudgetEntry(label: label, endpoints: endpoints, id: id, metrics: metrics))
        }
        logger.info("server budget added", metadata: ["server": "\(label)", "max_connections": "\(maxConnections)"])
    }

    /// Lowering closes idle connections at once and busy ones as they come back; raising serves
    /// waiting borrows (``PoolGroup/setServerLimit(_:maxConnections:now:)``).
    private func setBudget(label: String, maxConnections: Int) {
        guard let id = state.withLock({ state in state.servers.first { $0.label == label }?.id }) else { return }
        report { group, now in group.setServerLimit(id, maxConnections: maxConnections, now: now) }
        admission?.limitsChanged(pool: nil, max: nil, budget: AdmissionRequest.Budget(label: label, max: maxConnections))
        logger.info("server budget changed", metadata: ["server": "\(label)", "max_connections": "\(maxConnections)"])
    }

    /// Only a budget no pool that stays counts against is removed (the plan refuses the others);
    /// pools the reload deletes finish draining there, no longer shown.
    private func removeBudget(label: String) {
        let metrics = state.withLock { state -> ServerMetrics? in
            guard let index = state.servers.firstIndex(where: { $0.label == label }) else { return nil }
            return state.servers.remove(at: index).metrics
        }
        metrics?.retire()
        logger.info("server budget removed", metadata: ["server": "\(label)"])
    }

    /// Resolves the host names of added budgets and of the pools' conninfos on one thread of its
    /// own, as `createPool` does: DNS may block.
    private static func resolveOffThread(
        budgets: [ServerBudgetSettings],
        known: Set<String>,
        conninfos: [String]
    ) async -> (budgets: [String: Set<ServerAddress>], conninfos: [String: Set<ServerAddress>?]) {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var byLabel: [String: Set<ServerAddress>] = [:]
                for budget in budgets where !known.contains("\(budget.host):\(budget.port)") {
                    byLabel["\(budget.host):\(budget.port)"] = ServerAddress.endpoints(budget)
                }
                var byConninfo: [String: Set<ServerAddress>?] = [:]
                for conninfo in conninfos where byConninfo[conninfo] == nil {
                    byConninfo[conninfo] = .some(ServerAddress.endpoints(conninfo: conninfo))
                }
                continuation.resume(returning: (byLabel, byConninfo))
            }
        }
    }
}
