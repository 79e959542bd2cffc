import Foundation
import PoolWardenHTTP
import PoolWardenRuntime
import TestPostgres
import Testing

@Suite("CLI: poolwarden tx")
struct CLITxTests {
    @Test("-c and --file statements run as one transaction; a line is one statement, semicolons and all; a failure exits 2 naming it")
    func transaction() async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase()
        try await server.execute("CREATE TABLE t (id int PRIMARY KEY, note text)", database: database)
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo(database: database)))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tx-\(UUID().uuidString).sql")
        try "INSERT INTO t VALUES (2, 'a;b')\n\nSELECT id, note FROM t ORDER BY id\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let port = api.client.port
            let ran = try await CLIClientTests.cli(
                ["tx", "main", "-c", "INSERT INTO t VALUES (1, 'one')", "--file", file.path, "--isolation", "serializable"], port: port
            )
            #expect(ran.status == 0, "\(ran)")
            #expect(ran.stdout == "INSERT 1\n\nINSERT 1\n\nid  note\n 1  one\n 2  a;b\n(2 rows)\n", "\(ran)")

            let failed = try await CLIClientTests.cli(["tx", "main", "-c", "INSERT INTO t VALUES (3, 'three')", "-c", "INSERT INTO t VALUES (1, 'again')"], port: port)
            #expect(failed.status == 2, "\(failed)")
            #expect(failed.stderr.hasPrefix("poolwarden: sql_error: "), "\(failed)")
            #expect(failed.stderr.contains("(SQLSTATE 23505) (statement 2)"), "\(failed)")
            let ids = try await server.execute("SELECT array_agg(id ORDER BY id)::text FROM t", database: database)
            #expect(ids.rows == [[.string("{1,2}")]])

            let none = try await CLIClientTests.cli(["tx", "main"], port: port)
            #expect(none.status == 1, "\(none)")
        }
    }
}
