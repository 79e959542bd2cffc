import Foundation
import PoolWardenRuntime
import TestPostgres

/// A config file in a directory of its own that a test rewrites between reloads, always with the
/// same listen address (a changed one would only be reported as needing a restart).
struct ReloadableConfig: Sendable {
    static let callers = """
          - { name: ops, role: admin, key_env: T_ADMIN_KEY }
          - { name: app, role: client, key_env: T_APP_KEY }
          - { name: other, role: client, key_env: T_OTHER_KEY }
        """

    let directory: URL
    let port: Int
    var path: String { directory.appendingPathComponent("poolwarden.yaml").path }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("pw-reload-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        port = try TestCluster.freePort()
    }

    /// A whole file: `pools` as `ServiceHarness.pool` writes them, `callers` as list items.
    func yaml(pools: [String], servers: String = "", callers: String = Self.callers) -> String {
        """
        listen: { host: 127.0.0.1, port: \(port) }
        callers:
        \(callers)
        pools:
        \(pools.joined(separator: "\n"))
        \(servers)
        """
    }

    /// Writes `text` and returns it, for the first version to start the service with.
    @discardableResult
    func write(_ text: String) throws -> String {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return text
    }

    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Writes the file `first` makes, runs the service from it (`ServiceHarness.run`, reloading
    /// from it) until `body` returns, and removes it.
    static func run(
        environment: [String: String] = ServiceHarness.environment,
        participants: [any ReloadParticipant] = [],
        _ first: (ReloadableConfig) -> String,
        _ body: @Sendable (APIClient, ReloadableConfig) async throws -> Void
    ) async throws {
        let file = try ReloadableConfig()
        defer { file.remove() }
        let yaml = try file.write(first(file))
        try await ServiceHarness.run(yaml: yaml, environment: environment, reloadFrom: file.path, participants: participants) { api, _ in
            try await body(api, file)
        }
    }
}

extension APIClient {
    /// `POST /v1/reload` as the admin: the answer, and its changes as `kind name [fields]`.
    func reload(key: String = ServiceHarness.adminKey) async throws -> (answer: Answer, changes: [String]) {
        let answer = try await send(.post, "/v1/reload", key: key)
        let changes = (answer["changes"] as? [[String: Any]] ?? []).map { change in
            let fields = change["fields"] as? [String] ?? []
            return "\(change["kind"] ?? "?") \(change["name"] ?? "?")" + (fields.isEmpty ? "" : " \(fields)")
        }
        return (answer, changes)
    }

    /// The fields of the problems of an `invalid_config` answer.
    static func problemFields(_ answer: Answer) -> [String] {
        (answer["problems"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String }
    }

    /// Polls `GET /v1/pools/{pool}` until `ready` holds for it (at most 20 s).
    @discardableResult
    func waitForPool(_ pool: String, _ ready: @Sendable ([String: Any]) -> Bool) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + .seconds(20)
        while true {
            let status = try await send(.get, "/v1/pools/\(pool)").json
            if ready(status) || ContinuousClock.now > deadline { return status }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

extension [String: Any] {
    /// `counts.<name>` of a pool status.
    func count(_ name: String) -> Int { (self["counts"] as? [String: Any])?[name] as? Int ?? -1 }
    /// `totals.<name>` of a pool status.
    func total(_ name: String) -> Int { (self["totals"] as? [String: Any])?[name] as? Int ?? -1 }
    /// `limits.<name>` of a pool status.
    func limit(_ name: String) -> Int { (self["limits"] as? [String: Any])?[name] as? Int ?? -1 }
}
