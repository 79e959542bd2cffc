import Foundation
import PoolWarden
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
}
