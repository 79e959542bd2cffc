@testable import PoolWardenHTTP
@testable import PoolWardenRuntime
import PostgresLibPQ
import TestPostgres
import Testing

/// Invariant 7: whatever one caller leaves in a session, the next caller of the same backend does
/// not see it — through a lease or a single shot, with application_name tagging on or off.
@Suite("Session reset between callers")
struct SessionResetTests {
    enum Path: String, CaseIterable, CustomTestStringConvertible {
        case lease
        case singleShot
        /// `POST /v1/pools/{pool}/transaction`: the statements run in one transaction in one call.
        case transaction
        var testDescription: String { rawValue }
    }

    /// One kind of session state: what caller A runs, and what caller B asks to see it is gone.
    struct Leftover: Sendable {
        var name: String
        var statements: [String]
        var probe: String
        /// The probe's answer on a fresh connection.
        var fresh: JSONValue
        /// Single shots end after one statement: kinds that need two are tried on leases only.
        var leaseOnly = false
    }

    static let role = "pw_payroll_admin"

    static let leftovers: [Leftover] = [
        Leftover(name: "role", statements: ["SET ROLE \(role)"], probe: "SELECT current_user::text", fresh: .string("postgres")),
        Leftover(
            name: "session authorization", statements: ["SET SESSION AUTHORIZATION \(role)"],
            probe: "SELECT session_user::text || '/' || current_user::text", fresh: .string("postgres/postgres")
        ),
        Leftover(
            name: "search_path", statements: ["SET search_path = evil, public"],
            probe: "SELECT current_setting('search_path')", fresh: .string("\"$user\", public")
        ),
        Leftover(
            name: "custom setting", statements: ["SELECT set_config('app.user', 'alice', false)"],
            probe: "SELECT coalesce(current_setting('app.user', true), '')", fresh: .string("")
        ),
        Leftover(
            name: "statement_timeout", statements: ["SET statement_timeout = 1"],
            probe: "SELECT current_setting('statement_timeout')", fresh: .string("0")
        ),
        Leftover(
            name: "client_connection_check_interval", statements: ["SET client_connection_check_interval = 0"],
            probe: "SELECT current_setting('client_connection_check_interval')", fresh: .string("1s")
        ),
        Leftover(
            name: "temp table", statements: ["CREATE TEMP TABLE invoices (id int)"],
            probe: "SELECT count(*)::int FROM pg_class WHERE relnamespace = pg_my_temp_schema()", fresh: .int(0)
        ),
        Leftover(
            name: "prepared statement", statements: ["PREPARE p1 AS SELECT 1"],
            probe: "SELECT count(*)::int FROM pg_prepared_statements", fresh: .int(0)
        ),
        Leftover(
            name: "cursor WITH HOLD", statements: ["DECLARE c1 CURSOR WITH HOLD FOR SELECT 1"],
            // The statement's own portal is unnamed.
            probe: "SELECT count(*)::int FROM pg_cursors WHERE name <> ''", fresh: .int(0)
        ),
        Leftover(
            name: "LISTEN", statements: ["LISTEN pw_channel"],
            probe: "SELECT count(*)::int FROM pg_listening_channels()", fresh: .int(0)
        ),
        Leftover(
            name: "advisory lock", statements: ["SELECT pg_advisory_lock(42)"],
            probe: "SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()", fresh: .int(0)
        ),
        Leftover(
            name: "open transaction", statements: ["BEGIN ISOLATION LEVEL SERIALIZABLE"],
            probe: "SELECT current_setting('transaction_isolation')", fresh: .string("read committed")
        ),
        Leftover(
            name: "failed transaction", statements: ["BEGIN ISOLATION LEVEL SERIALIZABLE", "SELECT 1/0"],
            probe: "SELECT current_setting('transaction_isolation')", fresh: .string("read committed"), leaseOnly: true
        ),
    ]

    /// Roles are cluster-wide: created once for the whole run.
    static let roleCreated = Task<Void, any Error> {
        let server = try await TestPostgres.server()
        try await server.execute("""
            DO $$ BEGIN
                IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '\(role)') THEN CREATE ROLE \(role); END IF;
            EXCEPTION WHEN unique_violation THEN NULL;
            END $$
            """)
    }

    static func prepare(_ server: TestServer, database: String) async throws {
        try await roleCreated.value
        try await server.execute("CREATE TABLE invoices (id int)", database: database)
        try await server.execute("GRANT ALL ON invoices TO \(role)", database: database)
    }

    @Test("the next caller sees none of the last caller's session", arguments: Path.allCases, [true, false])
    func nothingCrossesCallers(path: Path, tagging: Bool) async throws {
        try await Runtime.withFixture(configure: { settings in
            // One connection, so every caller gets the same backend.
            settings.max = 1
            settings.applicationNameTagging = tagging
        }) { registry, server, database in
            try await Self.prepare(server, database: database)
            var backend: Int64?
            for leftover in Self.leftovers where !(leftover.leaseOnly && path == .singleShot) {
                let seen = try await Self.leave(leftover, path: path, registry)
                let (pid, answer) = try await Self.look(leftover.probe, path: path, registry)
                #expect(answer == leftover.fresh, "\(leftover.name) crossed callers (\(path), tagging \(tagging)): \(answer)")
                // The same backend served both callers: what was compared is one session.
                #expect(pid == seen, "\(leftover.name): another backend served the next caller")
                if let backend { #expect(pid == backend) }
                backend = pid
            }
            // pg_locks is the cluster's: the cases running beside this one take the same lock in
            // their own databases.
            let locks = try await Runtime.count(
                server, database: database,
                sql: "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            #expect(locks == 0, "an advisory lock outlived its caller")
        }
    }

    @Test("a transaction the next caller commits goes where that caller meant it to")
    func committedWorkLandsInTheRealTable() async throws {
        try await Runtime.withFixture(configure: { $0.max = 1 }) { registry, server, database in
            try await Self.prepare(server, database: database)
            let alice = try await registry.token("p", Runtime.alice)
            _ = try await registry.run(alice, Runtime.alice, "CREATE TEMP TABLE invoices (id int)")
            try await registry.release(token: alice, caller: Runtime.alice)

            let bob = try await registry.token("p", Runtime.bob)
            _ = try await registry.run(bob, Runtime.bob, "BEGIN")
            _ = try await registry.run(bob, Runtime.bob, "INSERT INTO invoices VALUES (7)")
            _ = try await registry.run(bob, Runtime.bob, "COMMIT")
            try await registry.release(token: bob, caller: Runtime.bob)

            let stored = try await Runtime.count(server, database: database, sql: "SELECT count(*) FROM public.invoices WHERE id = 7")
            #expect(stored == 1, "bob's committed row went into alice's temp table")
        }
    }

    @Test("the application_name tag comes back after the reset")
    func tagSurvivesTheReset() async throws {
        try await Runtime.withFixture(configure: { $0.max = 1 }) { registry, server, database in
            let alice = try await registry.token("p", Runtime.alice)
            _ = try await registry.run(alice, Runtime.alice, "SET application_name = 'spoofed'")
            try await registry.release(token: alice, caller: Runtime.alice)
            let bob = try await registry.borrow("p", Runtime.bob)
            let token = try #require(bob.lease.token)
            let name = try await registry.run(token, Runtime.bob, "SELECT current_setting('application_name')")
            #expect(name.rows.first?.first == .string("poolwarden:p:bob:\(bob.lease.tokenPrefix)"))
            try await registry.release(token: token, caller: Runtime.bob)
            let shot = try await registry.queryOnce(pool: "p", caller: Runtime.bob, sql: "SELECT current_setting('application_name')", parameters: [], timeout: nil)
            #expect(shot.rows.first?.first == .string("poolwarden:p"))
            // Idle in the pool, the backend carries the pool's name again, not the last caller's.
            let idle = try await Runtime.backends(server, database: database)
            #expect(Array(idle.values) == ["poolwarden:p"])
        }
    }

    @Test("reset: none keeps what a caller changed, as documented")
    func resetNoneIsAnExplicitOptOut() async throws {
        try await Runtime.withFixture(configure: { settings in
            settings.max = 1
            settings.reset = .none
            settings.applicationNameTagging = false
        }) { registry, _, _ in
            let alice = try await registry.token("p", Runtime.alice)
            _ = try await registry.run(alice, Runtime.alice, "SET search_path = evil, public")
            try await registry.release(token: alice, caller: Runtime.alice)
            let bob = try await registry.token("p", Runtime.bob)
            let path = try await registry.run(bob, Runtime.bob, "SELECT current_setting('search_path')")
            #expect(path.rows.first?.first == .string("evil, public"))
            _ = try await registry.run(bob, Runtime.bob, "BEGIN ISOLATION LEVEL SERIALIZABLE")
            try await registry.release(token: bob, caller: Runtime.bob)
            // An open transaction is still rolled back.
            let next = try await registry.token("p", Runtime.bob)
            let fresh = try await registry.run(next, Runtime.bob, "SELECT current_setting('transaction_isolation')")
            #expect(fresh.rows.first?.first == .string("read committed"))
        }
    }

    @Test("a failing single shot and one that opens a transaction still leave the session clean")
    func singleShotEdgeCases() async throws {
        try await Runtime.withFixture(configure: { $0.max = 1 }) { registry, server, database in
            try await Self.prepare(server, database: database)
            let failed = await Runtime.error {
                try await registry.queryOnce(pool: "p", caller: Runtime.alice, sql: "SELECT 1/0", parameters: [], timeout: nil)
            }
            #expect(failed?.code == "sql_error")
            _ = try await registry.queryOnce(pool: "p", caller: Runtime.alice, sql: "SET ROLE \(Self.role)", parameters: [], timeout: nil)
            let user = try await registry.queryOnce(pool: "p", caller: Runtime.bob, sql: "SELECT current_user::text", parameters: [], timeout: nil)
            #expect(user.rows.first?.first == .string("postgres"))
        }
    }

    // MARK: Steps

    /// Caller A leaves `leftover` behind; returns A's backend PID.
    static func leave(_ leftover: Leftover, path: Path, _ registry: PoolRegistry) async throws -> Int64 {
        switch path {
        case .lease:
            let token = try await registry.token("p", Runtime.alice)
            let pid = try #require(Runtime.int(try await registry.run(token, Runtime.alice, "SELECT pg_backend_pid()::bigint")))
            for statement in leftover.statements {
                _ = try? await registry.run(token, Runtime.alice, statement)
            }
            try await registry.release(token: token, caller: Runtime.alice)
            return pid
        case .singleShot:
            let pid = try #require(Runtime.int(try await shot("SELECT pg_backend_pid()::bigint", Runtime.alice, registry)))
            for statement in leftover.statements {
                _ = try await shot(statement, Runtime.alice, registry)
            }
            return pid
        case .transaction:
            let pid = try #require(Runtime.int(try await transaction(["SELECT pg_backend_pid()::bigint"], Runtime.alice, registry)))
            // All of them in one transaction: a failing one (the failed-transaction kind) is the
            // point, the session must come back clean from that too.
            _ = try? await transaction(leftover.statements, Runtime.alice, registry)
            return pid
        }
    }

    /// Caller B's view of the session: its backend PID and the probe's answer.
    static func look(_ probe: String, path: Path, _ registry: PoolRegistry) async throws -> (Int64, JSONValue?) {
        let sql = "SELECT pg_backend_pid()::bigint, (\(probe))"
        let result: PGQueryResult
        switch path {
        case .lease:
            let token = try await registry.token("p", Runtime.bob)
            result = try await registry.run(token, Runtime.bob, sql)
            try await registry.release(token: token, caller: Runtime.bob)
        case .singleShot:
            result = try await shot(sql, Runtime.bob, registry)
        case .transaction:
            result = try await transaction([sql], Runtime.bob, registry)
        }
        guard let row = result.rows.first, case .int(let pid) = row[0] else { throw HarnessError("no row: \(result)") }
        return (pid, row[1])
    }

    /// The last statement's result.
    static func transaction(_ statements: [String], _ caller: CallerIdentity, _ registry: PoolRegistry) async throws -> PGQueryResult {
        let request = TransactionRequest(statements: statements.map { PGStatement($0) })
        let outcome = try await registry.transaction(pool: "p", caller: caller, request)
        return try #require(outcome.results.last)
    }

    static func shot(_ sql: String, _ caller: CallerIdentity, _ registry: PoolRegistry) async throws -> PGQueryResult {
        try await registry.queryOnce(pool: "p", caller: caller, sql: sql, parameters: [], timeout: nil)
    }
}
