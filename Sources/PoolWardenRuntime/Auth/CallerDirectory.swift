import Synchronization

/// The callers every request is checked against, replaceable while the service runs: a reload
/// swaps in the callers, keys and grants of the new file, and the next request sees them. A
/// request takes one ``CallerRegistry`` value and uses only that one, so a swap never splits an
/// authentication between two sets of keys.
public final class CallerDirectory: Sendable {
    private let registry: Mutex<CallerRegistry>

    public init(_ registry: CallerRegistry) {
        self.registry = Mutex(registry)
    }

    /// The callers in force now.
    public var current: CallerRegistry {
        registry.withLock { $0 }
    }

    func replace(with new: CallerRegistry) {
        registry.withLock { $0 = new }
    }
}

extension CallerDirectory: ReloadParticipant {
    public func prepare(_ new: WardenConfig, running: WardenConfig) async throws(ConfigError) -> ReloadCommit {
        let changes = CallerChanges.between(running.callers, new.callers)
        // Built at commit, not here: building one registers its callers' counters in /metrics,
        // which a refused reload must not do. The loader has checked the callers already.
        return { [self] in
            replace(with: CallerRegistry(config: new))
            return changes
        }
    }
}

/// What a reload changes among the callers: added, removed, and changed (role, grants, keys;
/// a key by its place in the file only, never its value or digest).
enum CallerChanges {
    static func between(_ old: [CallerConfig], _ new: [CallerConfig]) -> [ReloadChange] {
        let before = Dictionary(old.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let after = Set(new.map(\.name))
        var changes: [ReloadChange] = []
        for caller in new {
            guard let earlier = before[caller.name] else {
                changes.append(ReloadChange(kind: .callerAdded, name: caller.name, detail: "caller \(caller) added"))
                continue
            }
            var fields: [String] = []
            if earlier.role != caller.role { fields.append("role") }
            if earlier.pools != caller.pools { fields.append("pools") }
            if earlier.keys != caller.keys { fields.append("keys") }
            guard !fields.isEmpty else { continue }
            changes.append(ReloadChange(
                kind: .callerChanged, name: caller.name, fields: fields,
                detail: "caller \(caller.name): \(fields.joined(separator: ", ")) changed, from the next request on"
            ))
        }
        for caller in old where !after.contains(caller.name) {
            changes.append(ReloadChange(kind: .callerRemoved, name: caller.name, detail: "caller \(caller.name) removed: its keys no longer authenticate"))
        }
        return changes
    }
}
