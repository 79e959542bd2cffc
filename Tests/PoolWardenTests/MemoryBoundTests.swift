import Foundation
import PostgresLibPQ
import Testing
import TestPostgres

/// Invariant 9: one caller cannot grow the service's memory without bound. Serialized, since each
/// test lowers the process's peak to measure its own.
@Suite("Memory stays bounded against floods and wide results", .serialized)
struct MemoryBoundTests {
    static let mebibyte = 1 << 20

    /// One single shot's body.
    static func statement(_ sql: String) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: ["sql": sql]), as: UTF8.self)
    }

    /// 20,000 notifications of 7.9 KB (160 MB) to the session itself; distinct payloads, since
    /// PostgreSQL folds identical ones of a transaction into one.
    static func flood(_ channel: String) -> String {
        "SELECT count(pg_notify('\(channel)', repeat('a', 7900) || g)) FROM generate_series(1, 20000) g"
    }

    @Test("a NOTIFY flood to a listening session, through single shots and a lease, is drained: each round of 160 MB of notifications grows the peak by tens of MiB at most")
    func notifyFlood() async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase(prefix: "mem")
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("p", conninfo: server.conninfo(database: database), extra: ["max": "2"]))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            #expect(try await api.send(.post, "/v1/pools/p/query", key: ServiceHarness.appKey, body: Self.statement("SELECT 1")).status == 200)
            let discarded = PGConnection.notificationsDiscarded
            let start = ProcessMemory.resident
            /// Runs one round and returns how far it raised the peak over what was resident before.
            func round(_ body: () async throws -> APIClient.Answer) async throws -> Int {
                ProcessMemory.resetPeak()
                let before = ProcessMemory.resident
                let answer = try await body()
                #expect(answer.status == 200, "\(answer.text)")
                return ProcessMemory.peak - before
            }
            var growths: [Int] = []
            // LISTEN and the flood in one single shot: whatever the pool resets between shots.
            let shot = "DO $$ BEGIN LISTEN shot; PERFORM " + Self.flood("shot").dropFirst("SELECT ".count) + "; END $$"
            for _ in 0..<2 {
                growths.append(try await round { try await api.send(.post, "/v1/pools/p/query", key: ServiceHarness.appKey, body: Self.statement(shot)) })
            }
            let token = try await api.borrow("p")
            #expect(try await api.query(token, "LISTEN leased").status == 200)
            for _ in 0..<2 {
                growths.append(try await round { try await api.query(token, Self.flood("leased")) })
            }
            #expect(try await api.query(token, "SELECT 1").status == 200, "the lease is still usable")
            let retained = ProcessMemory.resident - start
            print("notify flood: peak growth per round \(growths.map { $0 / Self.mebibyte }) MiB, retained after all \(retained / Self.mebibyte) MiB")
            #expect(PGConnection.notificationsDiscarded - discarded >= 80_000, "the notifications were delivered and dropped")
            // Kept notifications raised every round's peak by 160 MB or more; other suites running
            // meanwhile may raise one round's, not all of them.
            #expect(growths.min()! < 32 * Self.mebibyte, "\(growths)")
            #expect(growths.max()! < 128 * Self.mebibyte, "\(growths)")
            let metrics = try await api.send(.get, "/metrics", key: nil)
            #expect(metrics.text.contains("# HELP poolwarden_notifications_discarded_total"))
            let line = metrics.text.split(separator: "\n").first { $0.hasPrefix("poolwarden_notifications_discarded_total ") }
            let counted = line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
            #expect(counted >= 80_000, "\(String(describing: line))")
        }
    }

    @Test("1,000 NULL columns × 50,000 rows against max_result_bytes 8 MiB: 422 result_too_large with peak growth under 64 MiB (it was a 300 MB body and 3.2 GB)")
    func nullColumnsAreRefused() async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase(prefix: "mem")
        let limit = 8 * Self.mebibyte
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("p", conninfo: server.conninfo(database: database), extra: ["max_result_bytes": "8MiB"]))
        let columns = (0..<1000).map { "NULL AS c\($0)" }.joined(separator: ", ")
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            #expect(try await api.send(.post, "/v1/pools/p/query", key: ServiceHarness.appKey, body: Self.statement("SELECT 1")).status == 200)
            ProcessMemory.resetPeak()
            let before = ProcessMemory.resident
            let answer = try await api.send(
                .post, "/v1/pools/p/query", key: ServiceHarness.appKey,
                body: Self.statement("SELECT \(columns) FROM generate_series(1, 50000)")
            )
            let growth = ProcessMemory.peak - before
            #expect(answer.status == 422, "\(answer.text.prefix(300))")
            #expect(answer.code == "result_too_large")
            #expect(growth < 8 * limit, "peak grew by \(growth / Self.mebibyte) MiB")
            print("1000 NULL columns refused: peak growth \(growth / Self.mebibyte) MiB")
            let token = try await api.borrow("p")
            let refused = try await api.query(token, "SELECT \(columns) FROM generate_series(1, 50000)")
            #expect(refused.code == "result_too_large")
            #expect(try await api.query(token, "SELECT 1").status == 200, "the lease is still usable")
        }
    }

    @Test("a result just under max_result_bytes (32 MiB) costs at most 5 times that at its peak, encoding and sending included")
    func resultUnderTheLimit() async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase(prefix: "mem")
        let limit = 32 * Self.mebibyte
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("p", conninfo: server.conninfo(database: database), extra: ["max_result_bytes": "32MiB"]))
        let columns = (0..<1000).map { "NULL AS c\($0)" }.joined(separator: ", ")
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            #expect(try await api.send(.post, "/v1/pools/p/query", key: ServiceHarness.appKey, body: Self.statement("SELECT 1")).status == 200)
            ProcessMemory.resetPeak()
            let before = ProcessMemory.resident
            // 1.3 million values of 24 bytes and 1,300 rows: 31.3 MB as counted. Read over a bare
            // socket with a deadline: URLSession on Linux can deadlock cancelling a slow, large
            // answer on a loaded machine (seen in a loaded run), and would hang the suite.
            let answer = try await RawExchange.send(
                port: api.client.port ?? 0, "POST", "/v1/pools/p/query", key: ServiceHarness.appKey,
                body: Array(try Self.statement("SELECT \(columns) FROM generate_series(1, 1300)").utf8),
                timeout: .seconds(120)
            )
            let growth = ProcessMemory.peak - before
            #expect(answer.status == 200, "\(answer.text.prefix(300))")
            #expect(growth < 5 * limit, "peak grew by \(growth / Self.mebibyte) MiB")
            print("1000 NULL columns × 1300 rows under 32 MiB: peak growth \(growth / Self.mebibyte) MiB")
        }
    }
}
