import Foundation
import PoolWardenHTTP
import PoolWardenRuntime
import TestPostgres
import Testing

/// `POST /v1/pools/{pool}/transaction`: every statement in one transaction, committed, or none of
/// them (issue 15, item 1).
@Suite("HTTP: transactions in one call")
struct TransactionTests {
    /// A transaction request body: `statements` as `[sql, params JSON]`, then any other members.
    static func body(_ statements: [(String, String)], _ extra: String = "") throws -> String {
        let list = try statements.map { sql, params in
            let text = String(decoding: try JSONSerialization.data(withJSONObject: ["sql": sql]), as: UTF8.self)
            return text.dropLast() + ", \"params\": \(params)}"
        }
        return "{\"statements\": [\(list.joined(separator: ", "))]\(extra.isEmpty ? "" : ", " + extra)}"
    }

    static func run(_ api: APIClient, _ statements: [(String, String)], _ extra: String = "", pool: String = "main") async throws -> APIClient.Answer {
        try await api.send(.post, "/v1/pools/\(pool)/transaction", key: ServiceHarness.appKey, body: body(statements, extra))
    }

    static func fixture(
        extra: [String: String] = [:],
        _ body: @Sendable (APIClient, TestServer, String) async throws -> Void
    ) async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase()
        try await server.execute("CREATE TABLE t (id int PRIMARY KEY, who text)", database: database)
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo(database: database), extra: extra))
        try await ServiceHarness.run(yaml: yaml) { api, _ in try await body(api, server, database) }
    }

    static func ids(_ server: TestServer, _ database: String) async throws -> [Int64] {
        try await server.execute("SELECT id FROM t ORDER BY id", database: database).rows.compactMap {
            if case .int(let id) = $0[0] { return id }
            return nil
        }
    }

    @Test("every statement runs and commits; one result per statement, in order")
    func commits() async throws {
        try await Self.fixture { api, server, database in
            let answer = try await Self.run(api, [
                ("INSERT INTO t VALUES ($1, $2)", "[1, \"a\"]"),
                ("INSERT INTO t VALUES ($1, $2)", "[2, \"b\"]"),
                ("UPDATE t SET who = upper(who) WHERE id = $1", "[2]"),
                ("SELECT id, who FROM t ORDER BY id", "[]"),
            ])
            #expect(answer.status == 200, "\(answer.text)")
            #expect(answer["attempts"] as? Int == 1)
            let results = answer["results"] as? [[String: Any]] ?? []
            #expect(results.map { $0["command"] as? String } == ["INSERT", "INSERT", "UPDATE", "SELECT"])
            #expect(results.map { $0["row_count"] as? Int } == [1, 1, 1, 2])
            #expect(results.last?["rows"] as? [[AnyHashable]] == [[1, "a"], [2, "B"]])
            #expect(try await Self.ids(server, database) == [1, 2])
        }
    }

    @Test("a failing statement answers 422 with its index and SQLSTATE, and nothing is committed")
    func failureRollsBack() async throws {
        try await Self.fixture { api, server, database in
            try await server.execute("CREATE TABLE after_failure (n int)", database: database)
            let answer = try await Self.run(api, [
                ("INSERT INTO t VALUES (1, 'kept?')", "[]"),
                ("INSERT INTO t VALUES (1, 'duplicate')", "[]"),
                ("INSERT INTO after_failure VALUES (1)", "[]"),
            ])
            #expect(answer.status == 422)
            #expect(answer.code == "sql_error")
            #expect(answer["statement_index"] as? Int == 1)
            #expect(answer["sqlstate"] as? String == "23505")
            #expect(answer["pg_detail"] as? String == "Key (id)=(1) already exists.")
            #expect(answer["attempts"] as? Int == 1)
            // Looked at from another session: the first insert was rolled back, the third never ran.
            #expect(try await Self.ids(server, database) == [])
            #expect(try await server.execute("SELECT count(*)::int FROM after_failure", database: database).rows == [[.int(0)]])
            // The connection came back usable: the pool serves the next transaction.
            let next = try await Self.run(api, [("INSERT INTO t VALUES (3, 'next')", "[]")])
            #expect(next.status == 200, "\(next.text)")
            #expect(try await Self.ids(server, database) == [3])
        }
    }

    @Test("a COMMIT that fails (a deferred constraint) is the statement after the last")
    func commitFailure() async throws {
        try await Self.fixture { api, server, database in
            try await server.execute(
                "CREATE TABLE d (id int, CONSTRAINT d_unique UNIQUE (id) DEFERRABLE INITIALLY DEFERRED)", database: database
            )
            let answer = try await Self.run(api, [("INSERT INTO d VALUES (1)", "[]"), ("INSERT INTO d VALUES (1)", "[]")])
            #expect(answer.status == 422)
            #expect(answer["statement_index"] as? Int == 2)
            #expect(answer["sqlstate"] as? String == "23505")
            #expect(try await server.execute("SELECT count(*)::int FROM d", database: database).rows == [[.int(0)]])
        }
    }

    @Test("the requested isolation level, READ ONLY and DEFERRABLE are in effect inside")
    func isolationInEffect() async throws {
        try await Self.fixture { api, _, _ in
            for (level, shown) in [("read_committed", "read committed"), ("repeatable_read", "repeatable read"), ("serializable", "serializable")] {
                let answer = try await Self.run(api, [("SHOW transaction_isolation", "[]")], "\"isolation\": \"\(level)\"")
                let rows = (answer["results"] as? [[String: Any]])?.first?["rows"] as? [[String]]
                #expect(rows == [[shown]], "\(level): \(answer.text)")
            }
            let deferrable = try await Self.run(
                api, [("SHOW transaction_read_only", "[]"), ("SHOW transaction_deferrable", "[]")],
                "\"isolation\": \"serializable\", \"read_only\": true, \"deferrable\": true"
            )
            let shown = (deferrable["results"] as? [[String: Any]])?.compactMap { ($0["rows"] as? [[String]])?.first?.first }
            #expect(shown == ["on", "on"], "\(deferrable.text)")

            let write = try await Self.run(api, [("SELECT 1", "[]"), ("INSERT INTO t VALUES (1, 'x')", "[]")], "\"read_only\": true")
            #expect(write.status == 422)
            #expect(write["sqlstate"] as? String == "25006")
            #expect(write["statement_index"] as? Int == 1)
        }
    }

    @Test("two conflicting serializable transactions: with retry both commit, one of them on a later try")
    func serializationFailureRetried() async throws {
        try await Self.fixture { api, server, database in
            // Each reads the whole table, waits until the other has read it too, then writes a row
            // the other's read would have seen: PostgreSQL lets only one of them commit. The
            // meeting is a sequence, which no snapshot hides: each arrival counts at once. (A
            // half-second sleep instead let the two run one after the other on a loaded machine,
            // and both committed.) A retry finds the count reached and goes straight on.
            for meeting in ["meet1", "meet2"] { try await server.execute("CREATE SEQUENCE \(meeting)", database: database) }
            func conflicting(_ id: Int, retry: Bool, meeting: String) async throws -> APIClient.Answer {
                try await Self.run(api, [
                    ("SELECT count(*) FROM t", "[]"),
                    ("SELECT nextval('\(meeting)')", "[]"),
                    ("""
                     DO $$ BEGIN
                       WHILE (SELECT last_value FROM \(meeting)) < 2 AND clock_timestamp() < statement_timestamp() + interval '20 seconds' LOOP
                         PERFORM pg_sleep(0.01);
                       END LOOP;
                     END $$
                     """, "[]"),
                    ("INSERT INTO t SELECT $1, count(*)::text FROM t", "[\(id)]"),
                ], "\"isolation\": \"serializable\", \"retry_on_serialization_failure\": \(retry)")
            }
            async let first = conflicting(1, retry: true, meeting: "meet1")
            async let second = conflicting(2, retry: true, meeting: "meet1")
            let answers = try await [first, second]
            #expect(answers.map(\.status) == [200, 200], "\(answers.map(\.text))")
            let attempts = answers.compactMap { $0["attempts"] as? Int }.sorted()
            #expect(attempts.first == 1)
            #expect((attempts.last ?? 0) >= 2, "no retry happened: \(attempts)")
            #expect(try await Self.ids(server, database) == [1, 2])

            try await server.execute("DELETE FROM t", database: database)
            async let third = conflicting(3, retry: false, meeting: "meet2")
            async let fourth = conflicting(4, retry: false, meeting: "meet2")
            let refused = try await [third, fourth].filter { $0.status != 200 }
            #expect(refused.count == 1)
            #expect(refused.first?["sqlstate"] as? String == "40001")
            #expect(refused.first?["attempts"] as? Int == 1)
            #expect(try await Self.ids(server, database).count == 1)
        }
    }

    @Test("retries are bounded: a transaction that always fails with 40001 runs 4 times, then answers 422")
    func retryBound() async throws {
        try await Self.fixture { api, server, database in
            try await server.execute("CREATE TABLE tries (n int)", database: database)
            try await server.execute("CREATE SEQUENCE tries_seq", database: database)
            let answer = try await Self.run(api, [
                // The sequence is not transactional: it counts the tries the rollbacks undo.
                ("SELECT nextval('tries_seq')", "[]"),
                ("DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = 'serialization_failure'; END $$", "[]"),
            ], "\"retry_on_serialization_failure\": true")
            #expect(answer.status == 422)
            #expect(answer["sqlstate"] as? String == "40001")
            #expect(answer["statement_index"] as? Int == 1)
            #expect(answer["attempts"] as? Int == PoolRegistry.serializationRetries + 1)
            let tries = try await server.execute("SELECT last_value::int FROM tries_seq", database: database)
            #expect(tries.rows == [[.int(Int64(PoolRegistry.serializationRetries + 1))]])
        }
    }

    @Test("bad input answers 400 invalid_request naming the field, never a 500")
    func badInput() async throws {
        try await Self.fixture(extra: ["max_statements": "3"]) { api, _, _ in
            let cases: [(String, String)] = [
                ("{\"statements\": []}", "statements"),
                (try Self.body(Array(repeating: ("SELECT 1", "[]"), count: 4)), "statements"),
                (try Self.body([("SELECT 1", "[]"), ("  ", "[]")]), "statements[1].sql"),
                (try Self.body([("SELECT $1", "[[1]]")]), "statements[0].params[0]"),
                (try Self.body([("SELECT 1", "[]")], "\"timeout_ms\": 0"), "timeout_ms"),
            ]
            for (body, field) in cases {
                let answer = try await api.send(.post, "/v1/pools/main/transaction", key: ServiceHarness.appKey, body: body)
                #expect(answer.status == 400, "\(body): \(answer.text)")
                #expect(answer.code == "invalid_request")
                #expect(answer["field"] as? String == field, "\(body): \(answer.text)")
            }
            for body in ["{\"statements\": [{\"sql\": \"SELECT 1\"}], \"isolation\": \"chaos\"}", "{\"statements\": [{\"sql\": \"SELECT 1\", \"x\": 1}]}", "{}"] {
                let answer = try await api.send(.post, "/v1/pools/main/transaction", key: ServiceHarness.appKey, body: body)
                #expect(answer.status == 400, "\(body): \(answer.text)")
                #expect(answer.code == "invalid_request")
            }
            let unknown = try await Self.run(api, [("SELECT 1", "[]")], pool: "nope")
            #expect(unknown.status == 404)
            #expect(unknown.code == "pool_not_found")
        }
    }

    @Test("the results together are held to max_result_rows; a timeout bounds the whole transaction")
    func limits() async throws {
        try await Self.fixture(extra: ["max_result_rows": "5"]) { api, server, database in
            let large = try await Self.run(api, [
                ("INSERT INTO t VALUES (1, 'x')", "[]"),
                ("SELECT generate_series(1, 3)", "[]"),
                ("SELECT generate_series(1, 3)", "[]"),
            ])
            #expect(large.status == 422)
            #expect(large.code == "result_too_large")
            #expect(large["statement_index"] as? Int == 2)
            // The statements are all sent at once: whether COMMIT ran before the cancel is said.
            let committed = (large["detail"] as? String)?.contains("committed all the same") == true
            #expect(try await Self.ids(server, database) == (committed ? [1] : []))

            let started = ContinuousClock.now
            let slow = try await Self.run(api, [
                ("INSERT INTO t VALUES (2, 'y')", "[]"),
                ("SELECT pg_sleep(30)", "[]"),
            ], "\"timeout_ms\": 300")
            #expect(slow.status == 422)
            #expect(slow.code == "statement_timeout")
            #expect(slow["statement_index"] as? Int == 1)
            #expect(slow["sqlstate"] as? String == "57014")
            #expect(ContinuousClock.now - started < .seconds(10))
            #expect(try await Self.ids(server, database).contains(2) == false)
        }
    }
}

extension TransactionTests {
    @Test("a statement that ends the transaction itself (COMMIT, ROLLBACK, BEGIN ...) cannot break all-or-nothing")
    func transactionControlInside() async throws {
        try await Self.fixture { api, server, database in
            for control in [
                "COMMIT", "commit work", "  ROLLBACK", "END", "ABORT", "BEGIN", "start  transaction", "PREPARE TRANSACTION 'x'",
                "-- a comment\nCOMMIT", "/* one /* nested */ comment */ rollback and chain",
            ] {
                let answer = try await Self.run(api, [
                    ("INSERT INTO t VALUES ($1, $2)", "[1, \"a\"]"),
                    (control, "[]"),
                    ("INSERT INTO t VALUES ($1, $2)", "[2, \"b\"]"),
                    ("SELECT 1/0", "[]"),
                ])
                #expect(answer.status == 400, "\(control): \(answer.status) \(answer.text)")
                #expect(answer.code == "invalid_request")
                #expect(answer["field"] as? String == "statements[1].sql")
                #expect(try await Self.ids(server, database) == [], "\(control): committed part of the transaction")
            }
            // Savepoints stay inside the transaction, and are allowed.
            let savepoints = try await Self.run(api, [
                ("SAVEPOINT s", "[]"),
                ("INSERT INTO t VALUES ($1, $2)", "[1, \"a\"]"),
                ("ROLLBACK TO SAVEPOINT s", "[]"),
                ("INSERT INTO t VALUES ($1, $2)", "[2, \"b\"]"),
                ("RELEASE SAVEPOINT s", "[]"),
            ])
            #expect(savepoints.status == 200, "\(savepoints.text)")
            #expect(try await Self.ids(server, database) == [2])
        }
    }
}
