import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PoolWardenHTTP
import PoolWardenRuntime
import TestPostgres
import Testing

/// Runs the real application (config file text → `buildApplication`) on a live loopback port
/// against the test PostgreSQL, with three callers: `ops` (admin), `app` and `other` (clients).
enum ServiceHarness {
    static let adminKey = "admin-key-0123456789abcdef"
    static let appKey = "app-key-0123456789abcdef"
    static let otherKey = "other-key-0123456789abcdef"
    static let environment = ["T_ADMIN_KEY": adminKey, "T_APP_KEY": appKey, "T_OTHER_KEY": otherKey]

    /// A config with the three callers and `pools` (YAML list items, indented by four spaces).
    static func yaml(pools: String, servers: String = "", callerPools: String = "") -> String {
        """
        listen: { host: 127.0.0.1, port: \((try? TestCluster.freePort()) ?? 18080) }
        callers:
          - { name: ops, role: admin, key_env: T_ADMIN_KEY }
          - { name: app, role: client, key_env: T_APP_KEY\(callerPools) }
          - { name: other, role: client, key_env: T_OTHER_KEY }
        pools:
        \(pools)
        \(servers)
        """
    }

    /// One pool block for `yaml(pools:)`. Its borrow_timeout is 15 s unless `extra` says otherwise:
    /// a first borrow on a pool waits for a connect, and beside busy loops PostgreSQL took up to
    /// 4.7 s to accept one (psql, outside the service, in the same run), where the default is 5 s.
    static func pool(_ name: String, conninfo: String, extra: [String: String] = [:]) -> String {
        var lines = ["  - name: \(name)", "    conninfo: \"\(conninfo)\""]
        let settings = ["borrow_timeout": "15s"].merging(extra) { $1 }
        for (key, value) in settings.sorted(by: { $0.key < $1.key }) { lines.append("    \(key): \(value)") }
        return lines.joined(separator: "\n")
    }

    /// The value of `series` in a `/metrics` text; 0 when it is absent (a counter not yet used).
    static func sample(_ series: String, in metrics: String) -> Int {
        for line in metrics.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Int(Double(line.dropFirst(series.count + 1)) ?? -1)
        }
        return 0
    }

    /// `reloadFrom`: the config file the service reloads (`POST /v1/reload`), read with
    /// `environment`; nil: the service has none, as when built from a config in memory.
    /// `participants`: what else a reload asks (see `ReloadParticipant`).
    static func run<Value: Sendable>(
        yaml: String,
        environment: [String: String] = environment,
        reloadFrom path: String? = nil,
        participants: [any ReloadParticipant] = [],
        tls: ServerTLS? = nil,
        _ body: @Sendable (APIClient, PoolRegistry) async throws -> Value
    ) async throws -> Value {
        EventLoopStallProbe.startIfAsked()
        let config = try ConfigLoader(environment: environment).load(yaml: yaml)
        var logger = TestLog.logger("poolwarden-test", quiet: .warning)
        logger[metadataKey: "test"] = "\(Test.current?.name.prefix(24) ?? "-")"
        let (application, registry) = try buildApplication(
            configuration: config, reloadSource: path.map { ConfigSource(path: $0, environment: environment) },
            reloadParticipants: participants, tls: tls, logger: logger
        )
        return try await application.test(.live) { client in
            try await body(APIClient(client: client), registry)
        }
    }
}

/// Requests as a script would send them, answers parsed as JSON.
struct APIClient: Sendable {
    let client: any TestClientProtocol
    /// A session per service: `URLSession.shared` is one libcurl handle for the whole test
    /// process, whose connections per host every parallel test's requests (all to 127.0.0.1)
    /// would queue for, long-polling borrows included.
    let session: URLSession

    init(client: any TestClientProtocol) {
        self.client = client
        session = .unlimited()
    }

    struct Answer: @unchecked Sendable {
        var status: Int
        var headers: HTTPFields
        var text: String
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:] }
        var code: String? { json["code"] as? String }
        var contentType: String? { headers[.contentType] }
        subscript(key: String) -> Any? { json[key] }
    }

    /// Sent with URLSession, over real sockets: hang-ups, keep-alive and `Connection: close`
    /// behave as they do for users.
    @discardableResult
    func send(_ method: HTTPRequest.Method, _ path: String, key: String? = ServiceHarness.adminKey, body: String? = nil, headers extra: HTTPFields = [:]) async throws -> Answer {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(client.port ?? 0)\(path)")!)
        request.httpMethod = method.rawValue
        request.timeoutInterval = 30
        for field in extra { request.setValue(field.value, forHTTPHeaderField: field.name.rawName) }
        if let key { request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization") }
        if let body {
            request.httpBody = Data(body.utf8)
            if extra[.contentType] == nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        }
        let (data, response) = try await session.data(for: request)
        let http = response as! HTTPURLResponse
        var headers = HTTPFields()
        for (name, value) in http.allHeaderFields {
            if let text = name as? String, let field = HTTPField.Name(text), let value = value as? String { headers[field] = value }
        }
        return Answer(status: http.statusCode, headers: headers, text: String(decoding: data, as: UTF8.self))
    }

    /// The value of one series of `/metrics` (`name{labels}` as written there); 0 when absent.
    func metric(_ series: String) async throws -> Int {
        ServiceHarness.sample(series, in: try await send(.get, "/metrics", key: nil).text)
    }

    /// Borrows a lease and returns its token.
    func borrow(_ pool: String, key: String = ServiceHarness.appKey, body: String? = nil) async throws -> String {
        let answer = try await send(.post, "/v1/pools/\(pool)/leases", key: key, body: body)
        guard answer.status == 201 || answer.status == 200, let token = answer["token"] as? String else {
            throw HarnessError("borrow from \(pool) answered \(answer.status): \(answer.text)")
        }
        return token
    }

    /// Runs SQL through a lease, returning the answer.
    @discardableResult
    func query(_ token: String, _ sql: String, _ params: String = "[]", key: String = ServiceHarness.appKey) async throws -> Answer {
        let body = try String(decoding: JSONSerialization.data(withJSONObject: ["sql": sql]), as: UTF8.self).dropLast() + ", \"params\": \(params)}"
        return try await send(.post, "/v1/leases/\(token)/query", key: key, body: String(body))
    }
}

extension URLSession {
    /// An ephemeral session without the default limit of 6 connections per host, which requests
    /// to 127.0.0.1 from tests running in parallel would otherwise queue for.
    static func unlimited() -> URLSession {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = 256
        return URLSession(configuration: configuration)
    }

    /// One such session for helpers that have no service of their own to hang it on.
    static let tests = unlimited()
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension TestServer {
    /// Backends connected to `database` whose application_name says PoolWarden holds them.
    func wardenBackends(database: String) async throws -> Int {
        let result = try await execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'poolwarden%'", [database]
        )
        if case .int(let count) = result.rows[0][0] { return Int(count) }
        return -1
    }

    /// PoolWarden's backends of `database` once there are at least `count`, or as many as there
    /// are after 30 s: a pool's `min` connections open in the background, and on a loaded machine
    /// a connect alone can take seconds, so a check right after the first borrow can race them.
    func wardenBackends(database: String, atLeast count: Int) async throws -> Int {
        var open = try await wardenBackends(database: database)
        let deadline = ContinuousClock.now + .seconds(30)
        while open < count && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            open = try await wardenBackends(database: database)
        }
        return open
    }
}
