import Foundation

/// `scope=cluster`: the replicas' answers merged into one, in the same shape, plus which replica
/// each row is on and which replicas answered.
///
/// For `GET /v1/pools`:
/// A pool's counts and totals are summed, its connection rows concatenated (each naming its
/// `replica`), and its `replicas` lists where it runs, so a pool missing at one replica (created
/// while that one was down) shows. Limits, settings, source and drift are the first replica's:
/// with the caps global they are the same everywhere unless a change failed somewhere, which
/// that change's `PoolWarden-Replicas` header reported. `state` is the most severe of the
/// replicas' (draining, degraded, paused, running).
/// For `GET /v1/pools/{pool}/leases`: the leases together, each naming its `replica`, oldest first.
public enum ClusterView {
    /// The listing a view merges.
    public enum Kind: Sendable, Equatable {
        /// `GET /v1/pools`
        case pools
        /// `GET /v1/pools/{pool}/leases`
        case leases
    }

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
    public static func merge(_ parts: [Part], kind: Kind = .pools) -> [UInt8] {
        var replicas: [JSONValue] = []
        var lists: [(replica: String, list: JSONValue)] = []
        let member = kind == .pools ? "pools" : "leases"
        for part in parts {
            switch part.answer {
            case .success(let bytes):
                guard let decoded = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)), decoded[member]?.array != nil else {
                    replicas.append(replicaEntry(part.replica, reachable: true, error: "answered with no \(member) list"))
                    continue
                }
                lists.append((part.replica, decoded))
                replicas.append(replicaEntry(part.replica, reachable: true, error: nil))
            case .failure(let failure):
                replicas.append(replicaEntry(part.replica, reachable: failure.reachable, error: failure.description))
            }
        }
        var merged = kind == .pools ? mergePools(lists) : mergeLeases(lists)
        merged["replicas"] = .array(replicas)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Only values decoded from JSON are encoded: this cannot fail.
        return (try? Array(encoder.encode(merged))) ?? Array("{\"\(member)\":[],\"replicas\":[]}".utf8)
    }

    private static func mergeLeases(_ lists: [(replica: String, list: JSONValue)]) -> JSONValue {
        let leases = lists.flatMap { replica, list in
            (list["leases"]?.array ?? []).map { lease -> JSONValue in
                var lease = lease
                lease["replica"] = .string(replica)
                return lease
            }
        }
        // RFC 3339 UTC timestamps of one format sort as text; the sort is stable for equal ones.
        return .object(["leases": .array(leases.enumerated().sorted { left, right in
            let (a, b) = (left.element["created_at"]?.string ?? "", right.element["created_at"]?.string ?? "")
            return a == b ? left.offset < right.offset : a < b
        }.map(\.element))])
    }

    private static func mergePools(_ lists: [(replica: String, list: JSONValue)]) -> JSONValue {
        var pools: [String: JSONValue] = [:]
        var servers: [String: JSONValue] = [:]
        for (replica, list) in lists {
            for pool in list["pools"]?.array ?? [] {
                guard let name = pool["name"]?.string else { continue }
                pools[name] = add(pool, of: replica, to: pools[name])
            }
            for server in list["servers"]?.array ?? [] {
                guard let name = server["server"]?.string else { continue }
                servers[name] = add(server: server, to: servers[name])
            }
        }
        return .object([
            "pools": .array(pools.keys.sorted().compactMap { pools[$0] }),
            "servers": .array(servers.keys.sorted().compactMap { servers[$0] }),
        ])
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
            // A broken peer's figures must not trap the replica that asked: saturate.
            let (total, overflow) = a.addingReportingOverflow(b)
            return .integer(overflow ? (b < 0 ? .min : .max) : total)
        case (.object(var members)?, .object(let others)?):
            for (key, value) in others { members[key] = sum(members[key], value) ?? value }
            return .object(members)
        default:
            return left ?? right
        }
    }
}
