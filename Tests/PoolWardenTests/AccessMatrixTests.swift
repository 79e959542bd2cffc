import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import PoolWardenHTTP
import PoolWardenRuntime
import Synchronization
import TestPostgres
import Testing

/// Invariant 4 and the security model, over every `/v1` operation of `openapi/openapi.yaml`.
/// Token entropy (10,000 tokens, no collision, uniform characters) is `PoolRegistryTokenTests`;
/// constant-time key comparison is `AuthConstantTimeTests`.
@Suite("Access control matrix over every /v1 route")
struct AccessMatrixTests {
    /// Every /v1 operation: (operationId, method, path, body, admin only). `{lease}` is a live token.
    static func routes(pool: String, token: String) -> [(String, HTTPRequest.Method, String, String?, Bool)] {
        [
            ("listPools", .get, "/v1/pools", nil, false),
            ("createPool", .post, "/v1/pools", #"{"name": "fresh", "conninfo": "host=127.0.0.1 dbname=x", "max": 1}"#, true),
            ("getPool", .get, "/v1/pools/\(pool)", nil, false),
            ("updatePool", .patch, "/v1/pools/\(pool)", #"{"max": 3}"#, true),
            ("deletePool", .delete, "/v1/pools/\(pool)", nil, true),
            ("pausePool", .post, "/v1/pools/\(pool)/pause", nil, true),
            ("resumePool", .post, "/v1/pools/\(pool)/resume", nil, true),
            ("recyclePool", .post, "/v1/pools/\(pool)/recycle", #"{"mode": "graceful"}"#, true),
            ("listLeases", .get, "/v1/pools/\(pool)/leases", nil, false),
            ("borrowLease", .post, "/v1/pools/\(pool)/leases", "{}", false),
            ("queryPool", .post, "/v1/pools/\(pool)/query", #"{"sql": "SELECT 1"}"#, false),
            ("runTransaction", .post, "/v1/pools/\(pool)/transaction", #"{"statements": [{"sql": "SELECT 1"}]}"#, false),
            ("listServers", .get, "/v1/servers", nil, false),
            ("getConfig", .get, "/v1/config", nil, true),
            ("getLease", .get, "/v1/leases/\(token)", nil, false),
            ("releaseLease", .delete, "/v1/leases/\(token)", nil, false),
            ("renewLease", .post, "/v1/leases/\(token)/renew", #"{"ttl_ms": 60000}"#, false),
            ("queryLease", .post, "/v1/leases/\(token)/query", #"{"sql": "SELECT 1"}"#, false),
            ("runBatch", .post, "/v1/leases/\(token)/batch", #"{"statements": [{"sql": "SELECT 1"}]}"#, false),
        ]
    }

    static func yaml(_ server: TestServer) -> String {
        ServiceHarness.yaml(
            pools: [ServiceHarness.pool("main", conninfo: server.conninfo()), ServiceHarness.pool("secret", conninfo: server.conninfo())].joined(separator: "\n"),
            callerPools: ", pools: [main]"
        )
    }

    @Test("no key, or an unknown key: 401 unauthorized with WWW-Authenticate on every /v1 route; nothing changes")
    func unauthenticated() async throws {
        let server = try await TestPostgres.server()
        try await ServiceHarness.run(yaml: Self.yaml(server)) { api, _ in
            let token = try await api.borrow("main")
            for (operation, method, path, body, _) in Self.routes(pool: "main", token: token) {
                for key in [nil, "wrong-key", ServiceHarness.appKey + "x", "", String(ServiceHarness.adminKey.dropLast())] as [String?] {
                    let answer: APIClient.Answer
                    do { answer = try await api.send(method, path, key: key, body: body) } catch {
                        Issue.record("\(operation) with key \(key ?? "none"): \(error)")
                        continue
                    }
                    #expect(answer.status == 401, "\(operation) with key \(key ?? "none"): \(answer.status) \(answer.text)")
                    #expect(answer.code == "unauthorized", "\(operation)")
                    #expect(answer.contentType == "application/problem+json", "\(operation)")
                    #expect(answer.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true, "\(operation)")
                }
            }
            // The token and the pool are untouched by all of the above.
            #expect(try await api.query(token, "SELECT 1").status == 200)
            let pool = try await api.send(.get, "/v1/pools/main")
            #expect(pool["state"] as? String == "running")
            #expect((pool["limits"] as? [String: Any])?["max"] as? Int == 10)
        }
    }

    @Test("a client key on every admin route: 403 forbidden, and the pool is unchanged")
    func clientOnAdminRoutes() async throws {
        let server = try await TestPostgres.server()
        try await ServiceHarness.run(yaml: Self.yaml(server)) { api, _ in
            let token = try await api.borrow("main")
            for (operation, method, path, body, adminOnly) in Self.routes(pool: "main", token: token) where adminOnly {
                for key in [ServiceHarness.appKey, ServiceHarness.otherKey] {
                    let answer = try await api.send(method, path, key: key, body: body)
                    #expect(answer.status == 403, "\(operation): \(answer.status) \(answer.text)")
                    #expect(answer.code == "forbidden", "\(operation)")
                    #expect(answer.contentType == "application/problem+json", "\(operation)")
                }
            }
            let pools = try await api.send(.get, "/v1/pools")
            #expect((pools["pools"] as? [[String: Any]])?.compactMap { $0["name"] as? String }.sorted() == ["main", "secret"])
            let pool = try await api.send(.get, "/v1/pools/main")
            #expect(pool["state"] as? String == "running")
            #expect((pool["limits"] as? [String: Any])?["max"] as? Int == 10)
            #expect(try await api.query(token, "SELECT 1").status == 200)
            // The admin may do each of them.
            for (operation, method, path, body, adminOnly) in Self.routes(pool: "secret", token: token) where adminOnly && operation != "deletePool" {
                let answer = try await api.send(method, path, key: ServiceHarness.adminKey, body: body)
                #expect((200..<300).contains(answer.status), "admin \(operation): \(answer.status) \(answer.text)")
            }
            #expect(try await api.send(.delete, "/v1/pools/secret").status == 204)
        }
    }

    @Test("client A on client B's lease: 404 lease_not_found on every lease route, exactly like an unknown token")
    func otherCallersLease() async throws {
        let server = try await TestPostgres.server()
        try await ServiceHarness.run(yaml: Self.yaml(server)) { api, _ in
            let token = try await api.borrow("main", key: ServiceHarness.otherKey)
            try await api.query(token, "BEGIN", key: ServiceHarness.otherKey)
            let unknown = "pwl_" + String(repeating: "A", count: 43)
            for (operation, method, path, body, _) in Self.routes(pool: "main", token: token) where path.hasPrefix("/v1/leases/") {
                let stranger = try await api.send(method, path, key: ServiceHarness.appKey, body: body)
                let nobody = try await api.send(method, path.replacingOccurrences(of: token, with: unknown), key: ServiceHarness.appKey, body: body)
                #expect(stranger.status == 404, "\(operation): \(stranger.status) \(stranger.text)")
                #expect(stranger.code == "lease_not_found", "\(operation)")
                #expect(stranger.status == nobody.status && stranger.code == nobody.code, "\(operation): an existence oracle")
                let strangerBody = (try? JSONSerialization.jsonObject(with: Data(stranger.text.replacingOccurrences(of: token, with: unknown).utf8))) as? NSDictionary
                let nobodyBody = (try? JSONSerialization.jsonObject(with: Data(nobody.text.utf8))) as? NSDictionary
                #expect(strangerBody != nil && strangerBody == nobodyBody, "\(operation): bodies differ: \(stranger.text) vs \(nobody.text)")
                #expect(!stranger.text.contains(token), "\(operation) echoes the token")
            }
            // The lease is untouched: still in its transaction, not renewed, not released.
            let lease = try await api.send(.get, "/v1/leases/\(token)", key: ServiceHarness.otherKey)
            #expect(lease.status == 200)
            #expect(lease["transaction_status"] as? String == "in_transaction")
            // The client's lease list shows only its own leases; the admin's shows all of them.
            let mine = try await api.send(.get, "/v1/pools/main/leases", key: ServiceHarness.appKey)
            #expect(mine.status == 200)
            #expect(!mine.text.contains(String(token.prefix(12))))
            #expect(!mine.text.contains(token))
            let all = try await api.send(.get, "/v1/pools/main/leases")
            #expect(all.text.contains(String(token.prefix(12))))
            #expect(!all.text.contains(token), "a lease listing shows a full token")
            // The admin may use any lease.
            #expect(try await api.query(token, "ROLLBACK", key: ServiceHarness.adminKey).status == 200)
            #expect(try await api.send(.delete, "/v1/leases/\(token)", key: ServiceHarness.adminKey).status == 204)
        }
    }

    @Test("a pool outside a client's grants: 403 on every pool route, whether or not it exists")
    func ungrantedPool() async throws {
        let server = try await TestPostgres.server()
        try await ServiceHarness.run(yaml: Self.yaml(server)) { api, _ in
            for pool in ["secret", "no-such-pool"] {
                for (operation, method, path, body, _) in Self.routes(pool: pool, token: "unused") where path.hasPrefix("/v1/pools/") {
                    let answer = try await api.send(method, path, key: ServiceHarness.appKey, body: body)
                    #expect(answer.status == 403, "\(operation) on \(pool): \(answer.status) \(answer.text)")
                    #expect(answer.code == "forbidden", "\(operation) on \(pool)")
                }
            }
            let visible = try await api.send(.get, "/v1/pools", key: ServiceHarness.appKey)
            #expect((visible["pools"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["main"])
            let status = try await api.send(.get, "/v1/pools/secret")
            #expect((status["totals"] as? [String: Any])?["borrows"] as? Int == 0)
            // The unrestricted client may use it.
            #expect(try await api.send(.post, "/v1/pools/secret/query", key: ServiceHarness.otherKey, body: #"{"sql": "SELECT 1"}"#).status == 200)
        }
    }

    @Test("no password, key or full token in captured logs (trace level), error bodies, status bodies or /metrics")
    func noSecretsAnywhere() async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase(prefix: "am")
        let role = "am_\(UUID().uuidString.prefix(8).lowercased())"
        let password = "pw-SECRET-\(UUID().uuidString)"
        let inlinePassword = "inline-SECRET-\(UUID().uuidString)"
        try await server.execute("CREATE ROLE \(role) LOGIN PASSWORD '\(password)'")
        try await server.execute("GRANT ALL ON DATABASE \(database) TO \(role)")
        let conninfo = "host=\(server.host) port=\(server.port) user=\(role) dbname=\(database)"
        let pools = [
            ServiceHarness.pool("main", conninfo: conninfo, extra: ["password_env": "T_PG_PASSWORD", "min": "1", "max": "3"]),
            ServiceHarness.pool("wrong", conninfo: conninfo, extra: ["password_env": "T_WRONG_PASSWORD", "connect_retry": "{ attempts: 2, base_delay: 10ms, max_delay: 20ms }"]),
            ServiceHarness.pool("inline", conninfo: conninfo + " password=\(inlinePassword)", extra: ["connect_retry": "{ attempts: 1, base_delay: 10ms, max_delay: 20ms }"]),
            ServiceHarness.pool("uri", conninfo: "postgresql://\(role):\(inlinePassword)@\(server.host):\(server.port)/\(database)", extra: ["connect_retry": "{ attempts: 1, base_delay: 10ms, max_delay: 20ms }"]),
        ].joined(separator: "\n")
        let environment = ["T_PG_PASSWORD": password, "T_WRONG_PASSWORD": password + "-wrong"]
        let capture = LogCapture()
        let seen = LogCapture()
        let issued = LogCapture()
        try await Self.run(yaml: ServiceHarness.yaml(pools: pools), environment: environment, capture: capture) { api in
            func record(_ answer: APIClient.Answer) { seen.append(answer.text); seen.append(answer.headers.map { "\($0.name): \($0.value)" }.joined(separator: "\n")) }
            // Normal work, SQL errors, timeouts, revoked and expired leases, every error kind.
            var tokens: [String] = []
            for _ in 0..<3 {
                let borrow = try await api.send(.post, "/v1/pools/main/leases", key: ServiceHarness.appKey, body: #"{"ttl_ms": 60000}"#)
                tokens.append(try #require(borrow["token"] as? String, "\(borrow.text)"))
            }
            for token in tokens {
                record(try await api.query(token, "SELECT current_user, $1::text", "[\"x\"]"))
                record(try await api.query(token, "SELECT * FROM missing_table"))
                record(try await api.send(.get, "/v1/leases/\(token)", key: ServiceHarness.otherKey))
                record(try await api.send(.post, "/v1/leases/\(token)/renew", key: ServiceHarness.appKey, body: #"{"ttl_ms": -1}"#))
            }
            record(try await api.send(.post, "/v1/pools/main/leases", key: ServiceHarness.appKey, body: #"{"wait_ms": 50}"#))
            record(try await api.send(.get, "/v1/pools"))
            record(try await api.send(.get, "/v1/pools/main"))
            record(try await api.send(.get, "/v1/pools/main/leases"))
            record(try await api.send(.post, "/v1/pools/main/recycle", body: #"{"mode": "immediate"}"#))
            for token in tokens { record(try await api.query(token, "SELECT 1")) }
            let expiring = try await api.borrow("main", body: #"{"ttl_ms": 100}"#)
            try await Task.sleep(for: .milliseconds(400))
            record(try await api.query(expiring, "SELECT 1"))
            tokens.append(expiring)
            for token in tokens { issued.append(token) }
            for pool in ["wrong", "inline", "uri"] {
                let failed = try await api.send(.post, "/v1/pools/\(pool)/leases", key: ServiceHarness.appKey, body: "{}")
                #expect(failed.status == 502, "\(pool): \(failed.status) \(failed.text)")
                record(failed)
                record(try await api.send(.get, "/v1/pools/\(pool)"))
            }
            record(try await api.send(.patch, "/v1/pools/main", body: #"{"password": "\#(password)-rotated"}"#))
            record(try await api.send(.post, "/v1/pools", body: #"{"name": "made", "conninfo": "host=127.0.0.1 port=1 user=x dbname=x password=\#(inlinePassword)"}"#))
            record(try await api.send(.get, "/v1/pools/made"))
            record(try await api.send(.post, "/v1/pools/made/leases", key: ServiceHarness.appKey, body: #"{"wait_ms": 300}"#))
            record(try await api.send(.get, "/v1/pools", key: ServiceHarness.appKey + "-wrong"))
            record(try await api.send(.get, "/v1/pools", key: nil))
            record(try await api.send(.get, "/metrics", key: nil))
            record(try await api.send(.get, "/readyz", key: nil))
            record(try await api.send(.get, "/healthz", key: nil))
        }
        let logs = capture.text
        #expect(!logs.isEmpty)
        let tokens = issued.all
        #expect(tokens.count == 4)
        let secrets = [password, inlinePassword, ServiceHarness.adminKey, ServiceHarness.appKey, ServiceHarness.otherKey] + tokens
        for secret in secrets {
            #expect(!logs.contains(secret), "the logs contain a secret: \(secret.prefix(12))…")
            for text in seen.all { #expect(!text.contains(secret), "an answer contains a secret \(secret.prefix(12))…: \(text.prefix(300))") }
        }
        // The passwords' distinctive parts never leak in fragments either (say, URL-encoded).
        for fragment in ["SECRET"] {
            #expect(!logs.contains(fragment), "the logs contain \(fragment)")
            for text in seen.all { #expect(!text.contains(fragment), "an answer contains \(fragment): \(text.prefix(300))") }
        }
    }

    /// Like `ServiceHarness.run`, with a logger at trace level that records every line.
    static func run(yaml: String, environment: [String: String], capture: LogCapture, _ body: @Sendable (APIClient) async throws -> Void) async throws {
        let config = try ConfigLoader(environment: ServiceHarness.environment.merging(environment) { $1 }).load(yaml: yaml)
        let logger = Logger(label: "poolwarden-capture") { label in CapturingLogHandler(label: label, capture: capture) }
        let (application, _) = try buildApplication(configuration: config, logger: logger)
        try await application.test(.live) { client in try await body(APIClient(client: client)) }
    }
}

/// Every log line the service writes, with its metadata, as text.
final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var text: String { lines.withLock { $0.joined(separator: "\n") } }
    var count: Int { lines.withLock { $0.count } }
    var all: [String] { lines.withLock { $0 } }
}

struct CapturingLogHandler: LogHandler {
    let label: String
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = self.metadata.merging(event.metadata ?? [:]) { $1 }
        let error = event.error.map { " error=\(String(reflecting: $0))" } ?? ""
        capture.append("\(event.level) \(label) \(event.message) \(all.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " "))\(error)")
    }
}
