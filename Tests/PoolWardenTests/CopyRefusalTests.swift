import Foundation
import Testing
import TestPostgres

@Suite("COPY refusals through the API")
struct CopyRefusalTests {
    @Test("COPY TO STDOUT and FROM STDIN answer 422 sql_error with SQLSTATE 0A000; the lease stays usable")
    func copyIsRefusedWithSQLState() async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase(prefix: "cp")
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("p", conninfo: server.conninfo(database: database)))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let token = try await api.borrow("p")
            #expect(try await api.query(token, "CREATE TEMP TABLE c (id int)").status == 200)
            for sql in ["COPY (SELECT g FROM generate_series(1, 1000) g) TO STDOUT", "COPY c FROM STDIN"] {
                let refused = try await api.query(token, sql)
                #expect(refused.status == 422, "\(sql): \(refused.text)")
                #expect(refused.code == "sql_error")
                #expect(refused["sqlstate"] as? String == "0A000", "\(sql): \(refused.text)")
                #expect(refused.contentType?.hasPrefix("application/problem+json") == true)
            }
            let after = try await api.query(token, "SELECT count(*) FROM c")
            #expect(after.status == 200, "\(after.text)")
            #expect((after["rows"] as? [[Any]])?.first?.first as? Int == 0)
            let shot = try await api.send(
                .post, "/v1/pools/p/query", key: ServiceHarness.appKey,
                body: #"{"sql": "COPY (SELECT 1) TO STDOUT"}"#
            )
            #expect(shot.status == 422)
            #expect(shot["sqlstate"] as? String == "0A000", "\(shot.text)")
        }
    }
}
