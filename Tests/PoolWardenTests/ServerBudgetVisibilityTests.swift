import Foundation
import HTTPTypes
@testable import PoolWardenHTTP
@testable import PoolWardenRuntime
import TestPostgres
import Testing

/// Issue 13, item 3: a borrow held back by a full `servers:` budget says so, and the budgets are
/// visible in `GET /v1/servers`, `GET /v1/pools`, `poolwarden status` and `/metrics`.
@Suite("Server budgets: the real cause of a refusal, and their use in every view")
struct ServerBudgetVisibilityTests {
    /// Pools `a` (max 3) and `b` (max 10) on the test server under one budget of 3, written as
    /// `localhost` so that its label is this suite's own among the process's metrics; `elsewhere`
    /// on a port nobody listens on, under no budget. The client `app` may use `b` and `elsewhere`.
    static func yaml(_ server: TestServer) throws -> String {
        let dead = 1  // refused at once; no test can take it, as one could take a port found free
        let pools = [
            ServiceHarness.pool("a", conninfo: server.conninfo(), extra: ["max": "3"]),
            ServiceHarness.pool("b", conninfo: server.conninfo(), extra: ["max": "10"]),
            ServiceHarness.pool("elsewhere", conninfo: "host=127.0.0.1 port=\(dead) user=nobody dbname=none"),
        ].joined(separator: "\n")
        return ServiceHarness.yaml(
            pools: pools,
            servers: "servers:\n  - { host: localhost, port: \(server.port), max_connections: 3 }",
            callerPools: ", pools: [b, elsewhere]"
        )
    }

    @Test("pool b at 0/10 on a full budget: 503 server_budget_exhausted naming the server; pool a at its own max: pool_exhausted")
    func refusalNamesTheBudget() async throws {
        let server = try await TestPostgres.server()
        let label = "localhost:\(server.port)"
        try await ServiceHarness.run(yaml: try Self.yaml(server)) { api, _ in
            var held: [String] = []
            for _ in 0..<3 { held.append(try await api.borrow("a", key: ServiceHarness.otherKey)) }

            let refused = try await api.send(.post, "/v1/pools/b/leases", key: ServiceHarness.appKey, body: #"{"wait_ms": 300}"#)
            #expect(refused.status == 503, "\(refused.text)")
            #expect(refused.code == "server_budget_exhausted", "\(refused.text)")
            #expect(refused.contentType == "application/problem+json")
            #expect(refused.headers[.retryAfter] == "1")
            #expect(refused["pool"] as? String == "b")
            #expect(refused["server"] as? String == label)
            #expect(refused["title"] as? String == "Server budget exhausted")
            let detail = refused["detail"] as? String ?? ""
            #expect(detail.hasPrefix("server \(label) is at its budget of 3 connections"), "\(detail)")
            // The pool itself shows room: the refusal is about the server.
            let b = try await api.send(.get, "/v1/pools/b")
            #expect((b["counts"] as? [String: Any])?["open"] as? Int == 0)
            #expect((b["limits"] as? [String: Any])?["max"] as? Int == 10)
            #expect((b["settings"] as? [String: Any])?["server"] as? String == label)

            // A single shot waits the same way and says the same.
            let shot = try await api.send(.post, "/v1/pools/b/query", key: ServiceHarness.appKey, body: #"{"sql": "SELECT 1", "wait_ms": 200}"#)
            #expect(shot.status == 503 && shot.code == "server_budget_exhausted", "\(shot.text)")
            // Not waiting at all answers the same at once.
            let atOnce = try await api.send(.post, "/v1/pools/b/leases", key: ServiceHarness.appKey, body: #"{"wait_ms": 0}"#)
            #expect(atOnce.code == "server_budget_exhausted", "\(atOnce.text)")

            // Pool a is full by its own max (the server is full too): its own limit is the cause.
            // Another caller: `other` holds its max_per_caller of 3 already.
            let own = try await api.send(.post, "/v1/pools/a/leases", key: ServiceHarness.adminKey, body: #"{"wait_ms": 300}"#)
            #expect(own.status == 503 && own.code == "pool_exhausted", "\(own.text)")
            #expect(own["server"] == nil)

            // Both waited until their deadline: both are timeouts in the totals.
            #expect(((try await api.send(.get, "/v1/pools/b"))["totals"] as? [String: Any])?["timeouts"] as? Int == 3)

            // Room on the server: b is served again.
            #expect(try await api.send(.delete, "/v1/leases/\(held.removeLast())", key: ServiceHarness.otherKey).status == 204)
            let served = try await api.send(.post, "/v1/pools/b/leases", key: ServiceHarness.appKey, body: #"{"wait_ms": 5000}"#)
            #expect(served.status == 201, "\(served.text)")
        }
    }

    @Test("GET /v1/servers and the servers of GET /v1/pools: open/max and pools, filtered by the caller's grants")
    func budgetsAreListed() async throws {
        let server = try await TestPostgres.server()
        let label = "localhost:\(server.port)"
        try await ServiceHarness.run(yaml: try Self.yaml(server)) { api, registry in
            for _ in 0..<2 { _ = try await api.borrow("a", key: ServiceHarness.otherKey) }
            _ = try await api.borrow("b", key: ServiceHarness.appKey)

            let admin = try await api.send(.get, "/v1/servers")
            #expect(admin.status == 200, "\(admin.text)")
            let adminServers = try #require(admin["servers"] as? [[String: Any]], "\(admin.text)")
            #expect(adminServers.count == 1)
            #expect(adminServers.first?["server"] as? String == label)
            #expect(adminServers.first?["open"] as? Int == 3)
            #expect(adminServers.first?["max"] as? Int == 3)
            #expect(adminServers.first?["pools"] as? [String] == ["a", "b"])

            // A client sees the budget of its granted pool, whole, but not the pool it may not use.
            let client = try await api.send(.get, "/v1/servers", key: ServiceHarness.appKey)
            let clientServers = try #require(client["servers"] as? [[String: Any]], "\(client.text)")
            #expect(clientServers.count == 1)
            #expect(clientServers.first?["open"] as? Int == 3 && clientServers.first?["max"] as? Int == 3)
            #expect(clientServers.first?["pools"] as? [String] == ["b"])
            // One granted only pools under no budget sees none.
            #expect(registry.servers(visibleTo: CallerIdentity(name: "x", role: .client, pools: ["elsewhere"])).isEmpty)
            #expect(try await api.send(.get, "/v1/servers", key: nil).status == 401)

            // GET /v1/pools carries the same list, on its fast path and through the generated handler.
            for (key, expected) in [(ServiceHarness.adminKey, adminServers), (ServiceHarness.appKey, clientServers)] {
                for path in ["/v1/pools", "/v1/pools?via=generated"] {
                    let pools = try await api.send(.get, path, key: key)
                    let listed = try #require(pools["servers"] as? [[String: Any]], "\(path): \(pools.text)")
                    #expect(NSArray(array: listed).isEqual(to: expected), "\(path): \(pools.text)")
                }
            }

            // /metrics: both gauges, described, with the budget's label.
            let metrics = try await api.send(.get, "/metrics", key: nil)
            for name in ["poolwarden_server_connections", "poolwarden_server_max_connections"] {
                #expect(metrics.text.contains("# HELP \(name) "), "\(name)")
                #expect(metrics.text.contains("# TYPE \(name) gauge"), "\(name)")
                #expect(metrics.text.contains("\(name){server=\"\(label)\"} 3"), "\(name): \(metrics.text)")
            }
        }
    }

    @Test("poolwarden status prints each budget under the pools: localhost:PORT  3/3 full  a, b")
    func statusPrintsBudgets() async throws {
        let server = try await TestPostgres.server()
        let label = "localhost:\(server.port)"
        try await ServiceHarness.run(yaml: try Self.yaml(server)) { api, _ in
            for _ in 0..<3 { _ = try await api.borrow("a", key: ServiceHarness.otherKey) }
            let port = api.client.port
            let status = try await CLIClientTests.cli(["status"], port: port, key: ServiceHarness.adminKey)
            #expect(status.status == 0, "\(status)")
            #expect(status.stdout.contains("\(label)  3/3 full  a, b\n"), "\(status)")
            #expect(CLIClientTests.row("SERVER", in: status.stdout) == ["SERVER", "OPEN/MAX", "POOLS"], "\(status)")

            // One pool: its own budget under it; a client sees only its granted pools on it.
            let one = try await CLIClientTests.cli(["status", "b"], port: port)
            #expect(one.status == 0, "\(one)")
            #expect(one.stdout.contains("\(label)  3/3 full  b\n"), "\(one)")
            let json = try await CLIClientTests.cli(["status", "b", "--json"], port: port)
            #expect((try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])?["name"] as? String == "b", "\(json)")
            // A pool under no budget prints no budget section.
            let none = try await CLIClientTests.cli(["status", "elsewhere"], port: port)
            #expect(none.status == 0 && !none.stdout.contains("SERVER"), "\(none)")
        }
    }
}
