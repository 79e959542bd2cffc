import Foundation

/// `GET /v1/pools?scope=cluster`: the replicas' `GET /v1/pools` answers merged into one, in the
/// same shape, plus which replica each connection row is on and which replicas answered.
///
/// A pool's counts and totals are summed, its connection rows concatenated (each naming its
/// `replica`), and its `replicas` lists where it runs, so a pool missing at one replica (created
/// while that one was down) shows. Limits, settings, source and drift are the first replica's:
/// with the caps global they are the same everywhere unless a change failed somewhere, which
/// that change's `PoolWarden-Replicas` header reported. `state` is the most severe of the
/// replicas' (draining, degraded, paused, running).
public enum ClusterView {
    /// One replica's answer: its `GET /v1/pools` body, or why there is none.
    public struct Part: Sendable {
        public var replica: String
        public var answer: Result<[UInt8], PeerFailure>

        public init(replica: String, answer: Result<[UInt8], PeerFailure>) {
            self.replica = replica
            self.answer = answer
        }
    }

    private static let severity = ["running": 0, "paused": 1, "degraded": 2, "draining": 3]

    /// The merged list; `parts` in the order their rows are shown (the peers list's, by name).
    public static func merge(_ parts: [Part]) -> [UInt8] {
        var pools: [String: JSONValue] = [:]
        var servers: [String: JSONValue] = [:]
        var replicas: [JSONValue] = []
        for part in parts {
            let list: JSONValue
            switch part.answer {
            case .success(let bytes):
                guard let decoded = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)), decoded["pools"]?.array != nil else {
                    replicas.append(replicaEntry(part.replica, reachable: true, error: "answered with no pool list"))
                    continue
                }
                list = decoded
                replicas.append(replicaEntry(part.replica, reachable: true, error: nil))
            case .failure(let failure):
                replicas.append(replicaEntry(part.replica, reachable: failure.reachable, error: failure.description))
                continue
            }
            for pool in list["pools"]?.array ?? [] {
                guard let name = pool["name"]?.string else { continue }
                pools[name] = add(pool, of: part.replica, to: pools[name])
            }
            for server in list["servers"]?.array ?? [] {
                guard let name = server["server"]?.string else { continue }
                servers[name] = add(server: server, to: servers[name])
            }
        }
        let merged = JSONValue.object([
            "pools": .array(pools.keys.sorted().compactMap { pools[$0] }),
            "servers": .array(servers.keys.sorted().compactMap { servers[$0] }),
            "replicas": .array(replicas),
        ])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Only values decoded from JSON are encoded: this cannot fail.
        return (try? Array(encoder.encode(merged))) ?? Array(#"{"pools":[],"servers":[],"replicas":[]}"#.utf8)
    }

    private static func replicaEntry(_ name: String, reachable: Bool, error: String?) -> JSONValue {
        var entry: [String: JSONValue] = ["name": .string(name), "reachable": .bool(reachable)]
        if let error { entry["error"] = .string(error) }
        return .object(entry)
    }

    private static func add(_ pool: JSONValue, of replica: String, to merged: JSONValue?) -> JSONValue {
        let rows = (pool["connections"]?.array ?? []).map { row -> JSONValue in
            var row = row
            row["replica"] = .string(replica)
            return row
        }
        guard var merged else {
            var first = pool
            first["connections"] = .array(rows)
            first["replicas"] = .array([.string(replica)])
            return first
        }
        merged["counts"] = sum(merged["counts"], pool["counts"])
        merged["totals"] = sum(merged["totals"], pool["totals"])
        merged["connections"] = .array((merged["connections"]?.array ?? []) + rows)
        merged["replicas"] = .array((merged["replicas"]?.array ?? []) + [.string(replica)])
        if let state = pool["state"]?.string, severity[state, default: 0] > severity[merged["state"]?.string ?? "", default: 0] {
            merged["state"] = .string(state)
        }
        if merged["last_error"]?.string == nil, let error = pool["last_error"], error != .null {
            merged["last_error"] = error
        }
        return merged
    }

    private static func add(server: JSONValue, to merged: JSONValue?) -> JSONValue {
        guard var merged else { return server }
        merged["open"] = sum(merged["open"], server["open"])
        let names = Set(((merged["pools"]?.array ?? []) + (server["pools"]?.array ?? [])).compactMap(\.string))
        merged["pools"] = .array(names.sorted().map(JSONValue.string))
        return merged
    }

    /// Integers added member by member (or as themselves); anything else kept as the first has it.
    private static func sum(_ left: JSONValue?, _ right: JSONValue?) -> JSONValue? {
        switch (left, right) {
        case (.integer(let a)?, .integer(let b)?):
            return .integer(a + b)
        case (.object(var members)?, .object(let others)?):
            for (key, value) in others { members[key] = sum(members[key], value) ?? value }
            return .object(members)
        default:
            return left ?? right
        }
    }
}
