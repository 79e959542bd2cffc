import HTTPTypes
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import PoolWardenHTTP
import PoolWardenRuntime
import TestPostgres
import Testing

@Suite("HTTP: every error is a problem with its stable code")
struct HTTPErrorTests {
    @Test("authentication and authorization")
    func accessControl() async throws {
        let server = try await TestPostgres.server()
        let yaml = ServiceHarness.yaml(
            pools: [ServiceHarness.pool("main", conninfo: server.conninfo()), ServiceHarness.pool("secret", conninfo: server.conninfo())].joined(separator: "\n"),
            callerPools: ", pools: [main]"
        )
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let missing = try await api.send(.get, "/v1/pools", key: nil)
            #expect(missing.status == 401)
            #expect(missing.code == "unauthorized")
            #expect(missing.contentType == "application/problem+json")
            #expect(try await api.send(.get, "/v1/pools", key: "wrong-key").status == 401)
            let forbidden = try await api.send(.post, "/v1/pools/main/pause", key: ServiceHarness.appKey)
            #expect(forbidden.status == 403)
            #expect(forbidden.code == "forbidden")
            #expect(try await api.send(.post, "/v1/pools/secret/leases", key: ServiceHarness.appKey).status == 403)
            let visible = try await api.send(.get, "/v1/pools", key: ServiceHarness.appKey)
            #expect((visible["pools"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["main"])

            let token = try await api.borrow("main")
            let stranger = try await api.query(token, "SELECT 1", key: ServiceHarness.otherKey)
            #expect(stranger.status == 404)
            #expect(stranger.code == "lease_not_found")
            #expect(try await api.send(.delete, "/v1/leases/\(token)", key: ServiceHarness.otherKey).status == 404)
            #expect(try await api.query(token, "SELECT 1", key: ServiceHarness.adminKey).status == 200)
            #expect(try await api.send(.get, "/v1/leases/pwl_doesnotexist", key: ServiceHarness.appKey).status == 404)
        }
    }

    @Test("bad input: malformed JSON, unknown fields, bounds, NUL bytes, huge bodies, unknown routes")
    func badInput() async throws {
        let server = try await TestPostgres.server()
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo()))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let malformed = try await api.send(.post, "/v1/pools/main/leases", key: ServiceHarness.appKey, body: "{not json")
            #expect(malformed.status == 400)
            #expect(malformed.code == "invalid_request")
            #expect(try await api.send(.post, "/v1/pools/main/leases", key: ServiceHarness.appKey, body: #"{"ttl": 5}"#).code == "invalid_request")
            let negative = try await api.send(.post, "/v1/pools/main/leases", key: ServiceHarness.appKey, body: #"{"ttl_ms": -5}"#)
            #expect(negative.status == 400)
            #expect(negative["field"] as? String == "ttl_ms")
            let token = try await api.borrow("main")
            let nul = try await api.send(.post, "/v1/leases/\(token)/query", key: ServiceHarness.appKey, body: #"{"sql": "SELECT 1\u0000; DROP TABLE x"}"#)
            #expect(nul.status == 400)
            let nested = try await api.send(.post, "/v1/leases/\(token)/query", key: ServiceHarness.appKey, body: #"{"sql": "SELECT $1", "params": [[1, 2]]}"#)
            #expect(nested.status == 400)
            let huge = try await api.send(.post, "/v1/leases/\(token)/query", key: ServiceHarness.appKey, body: #"{"sql": "SELECT '"# + String(repeating: "x", count: 1_100_000) + #"'"}"#)
            #expect(huge.status == 413)
            #expect(huge.code == "payload_too_large")
            let route = try await api.send(.get, "/v1/nothing-here")
            #expect(route.status == 404)
            #expect(route.contentType == "application/problem+json")
            // A known path with a method it does not take: 405 naming the ones it does.
            for (method, path, allowed) in [
                (HTTPRequest.Method.delete, "/v1/pools", "GET, POST"),
                (.put, "/v1/leases/\(token)", "GET, DELETE"),
                (.get, "/v1/pools/main/query", "POST"),
            ] {
                let wrong = try await api.send(method, path)
                #expect(wrong.status == 405 && wrong.code == "method_not_allowed", "\(method) \(path): \(wrong.status) \(wrong.text)")
                #expect(wrong.headers[.allow] == allowed, "\(method) \(path)")
                #expect(!wrong.text.contains(token))
            }
            #expect(try await api.send(.get, "/v1/pools/main/nothing").status == 404)
            let typo = try await api.send(.get, "/v1/leases/\(token)/nothing")
            #expect(typo.status == 404 && !typo.text.contains(token), "\(typo.text)")
            let wrongType = try await api.send(.post, "/v1/pools/main/leases", key: ServiceHarness.appKey, body: "ttl_ms=5", headers: [.contentType: "text/plain"])
            #expect(wrongType.status == 415)
            let curlStyle = try await api.send(.post, "/v1/pools/main/leases", key: ServiceHarness.appKey, body: #"{"ttl_ms": 5000}"#, headers: [.contentType: "application/x-www-form-urlencoded"])
            #expect(curlStyle.status == 201)
            let create = try await api.send(.post, "/v1/pools", body: #"{"name": "bad name!", "conninfo": "host=x"}"#)
            #expect(create.status == 400)
            let minMax = try await api.send(.post, "/v1/pools", body: #"{"name": "x", "conninfo": "host=x", "min": 5, "max": 2}"#)
            #expect(minMax.status == 400)
            #expect(try await api.query(token, "SELECT 1").status == 200)
        }
    }

    @Test("a single shot waits its own wait_ms, not the pool's whole borrow_timeout; a lease refuses wait_ms")
    func singleShotWait() async throws {
        let server = try await TestPostgres.server()
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo(), extra: ["max": "1", "borrow_timeout": "20s"]))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let holder = try await api.borrow("main", key: ServiceHarness.otherKey)
            let began = ContinuousClock.now
            let shot = try await api.send(.post, "/v1/pools/main/query", key: ServiceHarness.appKey, body: #"{"sql": "SELECT 1", "wait_ms": 300}"#)
            #expect(shot.status == 503 && shot.code == "pool_exhausted", "\(shot.text)")
            #expect(ContinuousClock.now - began < .seconds(10), "the single shot waited the pool's borrow_timeout")
            let onLease = try await api.send(.post, "/v1/leases/\(holder)/query", key: ServiceHarness.otherKey, body: #"{"sql": "SELECT 1", "wait_ms": 300}"#)
            #expect(onLease.status == 400 && onLease["field"] as? String == "wait_ms", "\(onLease.text)")
            let cli = try await CLIClientTests.cli(["query", "--pool", "main", "--wait", "200ms", "SELECT 1"], port: api.client.port)
            #expect(cli.status == 2 && cli.stderr.hasPrefix("poolwarden: pool_exhausted"), "\(cli)")
            try await api.send(.delete, "/v1/leases/\(holder)", key: ServiceHarness.otherKey)
            // The released connection is reset before it serves again: a short wait covers it.
            let served = try await api.send(.post, "/v1/pools/main/query", key: ServiceHarness.appKey, body: #"{"sql": "SELECT 1", "wait_ms": 5000}"#)
            #expect(served.status == 200, "\(served.text)")
        }
    }

    @Test("quota, exhaustion, connect failure, result size and statement timeout")
    func poolLimits() async throws {
        let server = try await TestPostgres.server()
        let refusing = try TestClusterPort.refusing()
        defer { withExtendedLifetime(refusing) {} }
        let deadPort = refusing.port
        let pools = [
            ServiceHarness.pool("small", conninfo: server.conninfo(), extra: ["max": "2", "max_per_caller": "1", "max_waiting": "1", "borrow_timeout": "15s", "max_result_rows": "100", "statement_timeout": "300ms"]),
            ServiceHarness.pool("down", conninfo: "host=127.0.0.1 port=\(deadPort) user=x dbname=x", extra: ["connect_retry": "{ attempts: 2, base_delay: 10ms, max_delay: 20ms }"]),
        ].joined(separator: "\n")
        try await ServiceHarness.run(yaml: ServiceHarness.yaml(pools: pools)) { api, _ in
            let token = try await api.borrow("small")
            // Over its quota a borrow waits, here while a connection is idle, and its wait ends as
            // caller_quota: the caller's own leases held it back.
            let quota = try await api.send(.post, "/v1/pools/small/leases", key: ServiceHarness.appKey, body: #"{"wait_ms": 200}"#)
            #expect(quota.status == 429)
            #expect(quota.code == "caller_quota")
            #expect(Int(quota.headers[.retryAfter] ?? "") ?? 0 >= 1)
            #expect(quota.text.contains("max_per_caller"), "\(quota.text)")
            _ = try await api.borrow("small", key: ServiceHarness.otherKey)
            let exhausted = try await api.send(.post, "/v1/pools/small/leases", key: ServiceHarness.adminKey, body: #"{"wait_ms": 200}"#)
            #expect(exhausted.status == 503)
            #expect(exhausted.code == "pool_exhausted")
            #expect(Int(exhausted.headers[.retryAfter] ?? "") ?? 0 >= 1)
            // max_waiting 1: with one borrow waiting, the next is refused at once.
            async let waiter = api.send(.post, "/v1/pools/small/leases", key: ServiceHarness.adminKey, body: #"{"wait_ms": 3000}"#)
            var waiting = 0
            for _ in 0..<100 where waiting < 1 {
                try await Task.sleep(for: .milliseconds(20))
                waiting = (try await api.send(.get, "/v1/pools/small")["counts"] as? [String: Any])?["waiting"] as? Int ?? 0
            }
            let started = ContinuousClock.now
            let crowded = try await api.send(.post, "/v1/pools/small/leases", key: ServiceHarness.adminKey, body: #"{"wait_ms": 3000}"#)
            #expect(crowded.status == 429)
            #expect(crowded.code == "too_many_waiting")
            #expect(crowded.headers[.retryAfter] != nil)
            #expect(ContinuousClock.now - started < .seconds(2), "refused without waiting")
            #expect(try await waiter.code == "pool_exhausted")

            let big = try await api.query(token, "SELECT g FROM generate_series(1, 1000) g")
            #expect(big.status == 422)
            #expect(big.code == "result_too_large")
            let slow = try await api.query(token, "SELECT pg_sleep(5)")
            #expect(slow.status == 422)
            #expect(slow.code == "statement_timeout")
            #expect(try await api.query(token, "SELECT 1").status == 200)

            let down = try await api.send(.post, "/v1/pools/down/leases", key: ServiceHarness.appKey)
            #expect(down.status == 502)
            #expect(down.code == "connect_failed")
            #expect(down.text.contains("refused"))
            let readiness = try await api.send(.get, "/readyz", key: nil)
            #expect(readiness.status == 200 || readiness.status == 503)
        }
    }
}

/// A loopback port with nothing listening.
enum TestClusterPort {
    /// A loopback port that refuses connections for as long as the returned probe lives: it stays
    /// bound (never listening), so no other test's server can take it meanwhile, as one did when
    /// the port was released at once and the pool's retries went on for its whole wait.
    static func refusing() throws -> ServerSocketProbe {
        try ServerSocketProbe()
    }
}

/// Binds an ephemeral loopback port without listening on it, until it is released.
final class ServerSocketProbe: Sendable {
    let port: Int
    private let handle: Int32

    deinit { close(handle) }

    init() throws {
        let handle = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.handle = handle
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(handle, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(handle, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
    }
}
