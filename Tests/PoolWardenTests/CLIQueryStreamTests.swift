import Foundation
import Testing
import TestPostgres

/// `poolwarden query --pool P --csv | --ndjson`: the stream written to stdout as it came, and a
/// failure midway failing the command after the rows.
@Suite("CLI query streams")
struct CLIQueryStreamTests {
    @Test("--csv and --ndjson write the stream as the service sent it; a failure midway exits 2 (NDJSON) or 3 (CSV) after the rows; they need --pool")
    func streams() async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase(prefix: "clistream")
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo(database: database)))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let port = api.client.port
            let csv = try await CLIClientTests.cli(["query", "--pool", "main", "--csv", "SELECT g AS n, NULLIF('a,b', '' || g) AS s FROM generate_series(1,3) g"], port: port)
            #expect(csv.status == 0, "\(csv)")
            #expect(csv.stdout == "n,s\r\n1,\"a,b\"\r\n2,\"a,b\"\r\n3,\"a,b\"\r\n", "\(csv)")
            let ndjson = try await CLIClientTests.cli(["query", "--pool", "main", "--ndjson", "SELECT g AS n FROM generate_series(1,2) g"], port: port)
            #expect(ndjson.status == 0, "\(ndjson)")
            #expect(ndjson.stdout == "{\"columns\":[{\"name\":\"n\",\"type\":\"integer\",\"type_oid\":23}]}\n[1]\n[2]\n{\"command_tag\":\"SELECT\",\"row_count\":2}\n")

            let failing = "SELECT 1/(g-1000) AS x FROM generate_series(1,2000) g"
            let ndjsonFails = try await CLIClientTests.cli(["query", "--pool", "main", "--ndjson", failing], port: port)
            #expect(ndjsonFails.status == 2, "\(ndjsonFails)")
            #expect(ndjsonFails.stdout.split(separator: "\n").count == 1 + 999 + 1)
            #expect(ndjsonFails.stderr.contains("sql_error") && ndjsonFails.stderr.contains("22012"), "\(ndjsonFails.stderr)")
            let csvFails = try await CLIClientTests.cli(["query", "--pool", "main", "--csv", failing], port: port)
            #expect(csvFails.status == 3, "\(csvFails)")
            #expect(csvFails.stdout.hasPrefix("x\r\n0\r\n"))
            #expect(csvFails.stderr.contains("cut off"), "\(csvFails.stderr)")

            let early = try await CLIClientTests.cli(["query", "--pool", "main", "--csv", "SELECT 1/0"], port: port)
            #expect(early.status == 2)
            #expect(early.stdout.isEmpty)
            let noPool = try await CLIClientTests.cli(["query", "--csv", "pwl_x", "SELECT 1"], port: port)
            #expect(noPool.status != 0)
            #expect(noPool.stderr.contains("--pool"), "\(noPool)")
        }
    }
}
