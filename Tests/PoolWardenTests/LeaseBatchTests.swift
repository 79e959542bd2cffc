import Foundation
import PoolWardenHTTP
import PoolWardenRuntime
import TestPostgres
import Testing

/// `POST /v1/leases/{token}/batch`: statements in order on the lease's session, no BEGIN or COMMIT
/// added, stopping at the first that fails (issue 15, item 1).
@Suite("HTTP: batches on a lease")
struct LeaseBatchTests {
    static func batch(_ api: APIClient, _ token: String, _ statements: [(String, String)], _ extra: String = "") async throws -> APIClient.Answer {
        try await api.send(.post, "/v1/leases/\(token)/batch", key: ServiceHarness.appKey, body: TransactionTests.body(statements, extra))
    }

    @Test("a batch opens a transaction that a later call commits; one result per statement")
    func buildsATransaction() async throws {
        try await TransactionTests.fixture { api, server, database in
            let token = try await api.borrow("main")
            let answer = try await Self.batch(api, token, [
                ("BEGIN", "[]"),
                ("INSERT INTO t VALUES ($1, $2)", "[1, \"a\"]"),
                ("SELECT count(*)::int FROM t", "[]"),
            ])
            #expect(answer.status == 200, "\(answer.text)")
            let results = answer["results"] as? [[String: Any]] ?? []
            #expect(results.map { $0["command"] as? String } == ["BEGIN", "INSERT", "SELECT"])
            #expect(results.last?["rows"] as? [[Int]] == [[1]])
            let lease = try await api.send(.get, "/v1/leases/\(token)", key: ServiceHarness.appKey)
            #expect(lease["transaction_status"] as? String == "in_transaction")
            #expect(try await TransactionTests.ids(server, database) == [])
            #expect(try await api.query(token, "COMMIT").status == 200)
            #expect(try await TransactionTests.ids(server, database) == [1])
            #expect(try await api.send(.delete, "/v1/leases/\(token)", key: ServiceHarness.appKey).status == 204)
        }
    }

    @Test("a failing statement stops the batch: 422 with its index; those before it keep their effect, the lease stays usable")
    func failureStops() async throws {
        try await TransactionTests.fixture { api, server, database in
            let token = try await api.borrow("main")
            // Autocommit: each statement stands alone, as separate calls would.
            let answer = try await Self.batch(api, token, [
                ("INSERT INTO t VALUES (1, 'a')", "[]"),
                ("INSERT INTO t VALUES (1, 'again')", "[]"),
                ("INSERT INTO t VALUES (3, 'never')", "[]"),
            ])
            #expect(answer.status == 422)
            #expect(answer.code == "sql_error")
            #expect(answer["statement_index"] as? Int == 1)
            #expect(answer["sqlstate"] as? String == "23505")
            #expect(answer["attempts"] == nil)
            #expect(try await TransactionTests.ids(server, database) == [1])

            // Inside a transaction of the caller's: it is failed, and the caller's to end.
            let inside = try await Self.batch(api, token, [("BEGIN", "[]"), ("SELECT 1/0", "[]"), ("SELECT 1", "[]")])
            #expect(inside["statement_index"] as? Int == 1)
            #expect(inside["sqlstate"] as? String == "22012")
            let lease = try await api.send(.get, "/v1/leases/\(token)", key: ServiceHarness.appKey)
            #expect(lease["transaction_status"] as? String == "in_error")
            #expect(try await api.query(token, "ROLLBACK").status == 200)
            #expect(try await api.query(token, "SELECT 1").status == 200)
        }
    }

    @Test("bounds: max_statements, a timeout for the whole batch, another caller's token")
    func bounds() async throws {
        try await TransactionTests.fixture(extra: ["max_statements": "2"]) { api, _, _ in
            let token = try await api.borrow("main")
            let many = try await Self.batch(api, token, Array(repeating: ("SELECT 1", "[]"), count: 3))
            #expect(many.status == 400)
            #expect(many["field"] as? String == "statements")
            let slow = try await Self.batch(api, token, [("SELECT 1", "[]"), ("SELECT pg_sleep(30)", "[]")], "\"timeout_ms\": 300")
            #expect(slow.status == 422)
            #expect(slow.code == "statement_timeout")
            #expect(slow["statement_index"] as? Int == 1)
            #expect(try await api.query(token, "SELECT 1").status == 200)
            let stranger = try await api.send(
                .post, "/v1/leases/\(token)/batch", key: ServiceHarness.otherKey, body: TransactionTests.body([("SELECT 1", "[]")])
            )
            #expect(stranger.status == 404)
            #expect(stranger.code == "lease_not_found")
        }
    }
}
