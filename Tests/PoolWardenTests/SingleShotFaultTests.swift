import Foundation
import PoolWardenHTTP
import PoolWardenRuntime
import TestPostgres
import Testing

/// A single shot (`POST /v1/pools/{pool}/query`) whose server connection dies: before the statement
/// is sent it is invisible to the caller, after it is a 502 that says the outcome is unknown.
@Suite("Faults: single shots on dead connections")
struct SingleShotFaultTests {
    @Test("idle connections terminated by the server are replaced before use: the single shot answers 200")
    func deadIdleConnectionsAreReplaced() async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase(prefix: "ss")
        let extra = ["min": "3", "max": "3", "health_check_after": "10m"]
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo(database: database), extra: extra))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let first = try await api.send(.post, "/v1/pools/main/query", key: ServiceHarness.appKey, body: #"{"sql": "SELECT 1"}"#)
            #expect(first.status == 200, "\(first.text)")
            var idle = 0
            for _ in 0..<100 where idle < 3 {
                idle = (try await api.send(.get, "/v1/pools/main", key: ServiceHarness.adminKey)["counts"] as? [String: Any])?["idle"] as? Int ?? 0
                if idle < 3 { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(idle == 3, "min 3 connections open and idle")
            let killed = try await server.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                [database]
            )
            #expect(killed.rows == [[.int(3)]])
            // Let the terminations reach the idle sockets: the probe reads what is there.
            try await Task.sleep(for: .milliseconds(200))
            for _ in 0..<4 {
                let again = try await api.send(.post, "/v1/pools/main/query", key: ServiceHarness.appKey, body: #"{"sql": "SELECT 2 AS two"}"#)
                #expect(again.status == 200, "\(again.status): \(again.text)")
            }
            let status = try await api.send(.get, "/v1/pools/main", key: ServiceHarness.adminKey)
            #expect((status["counts"] as? [String: Any])?["leased"] as? Int == 0)
        }
    }

    @Test("a connection that dies under a sent statement answers 502 connection_lost; the pool goes on")
    func lostAfterSend() async throws {
        let server = try await TestPostgres.server()
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo(), extra: ["max": "1"]))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let lost = try await api.send(
                .post, "/v1/pools/main/query", key: ServiceHarness.appKey,
                body: #"{"sql": "SELECT pg_terminate_backend(pg_backend_pid())"}"#
            )
            #expect(lost.status == 502, "\(lost.text)")
            #expect(lost.code == "connection_lost")
            #expect(lost.contentType == "application/problem+json")
            let next = try await api.send(.post, "/v1/pools/main/query", key: ServiceHarness.appKey, body: #"{"sql": "SELECT 1"}"#)
            #expect(next.status == 200, "\(next.text)")
        }
    }

    @Test("a single shot on an idle connection whose backend exited runs exactly once, on a new connection")
    func deadIdleConnectionRunsOnce() async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase(prefix: "sd")
        try await server.execute("CREATE TABLE t (id int)", database: database)
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool(
            "main", conninfo: server.conninfo(database: database), extra: ["min": "1", "max": "1", "health_check_after": "off"]
        ))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            // The one connection, idle in the pool after a first statement.
            #expect(try await api.send(.post, "/v1/pools/main/query", key: ServiceHarness.appKey, body: #"{"sql": "SELECT 1"}"#).status == 200)
            let backends = try await Runtime.backends(server, database: database)
            #expect(backends.count == 1)
            let pid = try #require(backends.keys.first)
            #expect(try await server.execute("SELECT pg_terminate_backend($1::int)", ["\(pid)"]).rows == [[.bool(true)]])
            let gone = await Runtime.eventually { (try? await Runtime.backends(server, database: database)[pid]) == nil }
            #expect(gone, "the backend has exited")

            let shot = try await api.send(.post, "/v1/pools/main/query", key: ServiceHarness.appKey, body: #"{"sql": "INSERT INTO t VALUES (1)"}"#)
            #expect(shot.status == 200, "\(shot.status) \(shot.text)")
            #expect(try await server.execute("SELECT count(*) FROM t", database: database).rows == [[.int(1)]], "run exactly once")
            let counts = try await api.send(.get, "/v1/pools/main")["counts"] as? [String: Any]
            #expect(counts?["leased"] as? Int == 0)
        }
    }

    @Test(
        "a client that hangs up while its single shot or transaction waits for a connection: the statement never runs",
        arguments: [
            ("query", #"{"sql": "INSERT INTO t VALUES (1)"}"#),
            ("transaction", #"{"statements": [{"sql": "INSERT INTO t VALUES (1)"}, {"sql": "INSERT INTO t VALUES (2)"}]}"#),
        ]
    )
    func hangUpWhileWaiting(route: String, body: String) async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase(prefix: "sh")
        try await server.execute("CREATE TABLE t (id int)", database: database)
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo(database: database), extra: ["max": "1", "borrow_timeout": "5s"]))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let port = try #require(api.client.port)
            let holder = try await api.borrow("main", key: ServiceHarness.otherKey)
            let socket = try RawHTTPClient(port: port)
            socket.send("POST /v1/pools/main/\(route) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(ServiceHarness.appKey)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            var waiting = 0
            for _ in 0..<50 where waiting == 0 {
                try await Task.sleep(for: .milliseconds(20))
                waiting = (try await api.send(.get, "/v1/pools/main")["counts"] as? [String: Any])?["waiting"] as? Int ?? 0
            }
            #expect(waiting == 1)
            let closedAt = Date()
            socket.close()
            for _ in 0..<100 where waiting != 0 {
                try await Task.sleep(for: .milliseconds(20))
                waiting = (try await api.send(.get, "/v1/pools/main")["counts"] as? [String: Any])?["waiting"] as? Int ?? -1
            }
            #expect(waiting == 0, "the hang-up takes the single shot out of the queue (closed at \(closedAt), still waiting at \(Date()))")
            #expect(try await api.send(.delete, "/v1/leases/\(holder)", key: ServiceHarness.otherKey).status == 204)
            try await Task.sleep(for: .milliseconds(500))
            let counts = try await api.send(.get, "/v1/pools/main")["counts"] as? [String: Any]
            #expect(counts?["leased"] as? Int == 0)
        }
        #expect(try await server.execute("SELECT count(*) FROM t", database: database).rows == [[.int(0)]], "nobody is there to hear its answer")
    }
}
