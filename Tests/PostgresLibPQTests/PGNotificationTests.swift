import PostgresLibPQ
import TestPostgres
import Testing

@Suite("NOTIFY messages are drained, not kept")
struct PGNotificationTests {
    @Test("notifications to a listening session are dropped and counted as they are read")
    func floodIsDrained() async throws {
        let connection = try await TestPostgres.server().connect()
        defer { connection.close() }
        let channel = "flood_\(connection.backendPID)"
        _ = try await connection.query("LISTEN \(channel)")
        let before = PGConnection.notificationsDiscarded
        // Distinct payloads: PostgreSQL folds identical ones of a transaction into one.
        let result = try await connection.query(
            "SELECT count(pg_notify('\(channel)', repeat('a', 7900) || g)) FROM generate_series(1, 5000) g",
            limits: PGResultLimits(maxRows: 10, maxBytes: 1 << 20)
        )
        #expect(result.rows == [[.int(5000)]])
        #expect(PGConnection.notificationsDiscarded - before >= 5000)
        #expect(try await connection.query("SELECT 1").rows == [[.int(1)]])
    }

    @Test("notifications that arrive while the connection is idle are drained by the probe")
    func probeDrains() async throws {
        let server = try await TestPostgres.server()
        let listener = try await server.connect()
        defer { listener.close() }
        let channel = "idle_\(listener.backendPID)"
        _ = try await listener.query("LISTEN \(channel)")
        let before = PGConnection.notificationsDiscarded
        _ = try await server.execute("SELECT count(pg_notify('\(channel)', g::text)) FROM generate_series(1, 100) g")
        var drained = false
        for _ in 0..<100 where !drained {
            #expect(listener.probe())
            drained = PGConnection.notificationsDiscarded - before >= 100
            if !drained { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(drained)
    }
}
