import Foundation
@testable import PoolWardenHTTP
@testable import PoolWardenRuntime
import PostgresLibPQ
import TestPostgres
import Testing

/// Invariant 1 counts backends, not sockets: a connection stays counted until its backend has
/// exited, also when the statement on it ignores every cancel.
@Suite("The cap counts backends")
struct BackendCapTests {
    /// A statement that swallows every cancel, statement timeouts included.
    static let stubborn = """
        DO $$ BEGIN LOOP BEGIN PERFORM pg_sleep(0.5); EXCEPTION WHEN query_canceled THEN NULL; END; END LOOP; END $$
        """
    /// The same, after switching off the setting that lets its backend notice the hang-up.
    static let deaf = """
        DO $$ BEGIN PERFORM set_config('client_connection_check_interval', '0', false);
        LOOP BEGIN PERFORM pg_sleep(0.5); EXCEPTION WHEN query_canceled THEN NULL; END; END LOOP; END $$
        """

    /// Backends of `database` running a statement like `pattern`, seen from another database so
    /// that looking adds no backend to the ones the sampler counts.
    /// `sleeping`: only backends inside `pg_sleep`, that is inside the stubborn loop's exception
    /// block. A DO statement is `active` while plpgsql still compiles it, and a cancel there is not
    /// caught: a full run saw the "stubborn" statement answer 57014.
    static func running(
        _ server: TestServer, database: String, like pattern: String = "%pg_sleep(0.5)%", sleeping: Bool = false
    ) async throws -> Int64 {
        let result = try await server.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' AND query LIKE $2"
                + (sleeping ? " AND wait_event = 'PgSleep'" : ""),
            [database, pattern]
        )
        guard case .int(let count) = result.rows.first?.first else { return -1 }
        return count
    }

    @Test("seven single shots that swallow their cancel on a pool of two: never more than two backends, none left behind")
    func stubbornStatementsStayUnderTheCap() async throws {
        try await Runtime.withFixture(configure: { settings in
            settings.max = 2
            settings.statementTimeout = .seconds(1)
            settings.borrowTimeout = .seconds(60)
        }) { registry, server, database in
            let watcher = try await BackendSampler(server, database: database)
            let started = ContinuousClock.now
            let answers = await withTaskGroup(of: (String?, Duration).self) { group in
                for shot in 0..<7 {
                    group.addTask {
                        let begun = ContinuousClock.now
                        let caller = CallerIdentity(name: "shot\(shot)", role: .client)
                        let error = await Runtime.error {
                            try await registry.queryOnce(pool: "p", caller: caller, sql: Self.stubborn, parameters: [], timeout: nil)
                        }
                        return (error?.code, ContinuousClock.now - begun)
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            for (code, _) in answers {
                #expect(code == "connection_lost", "a statement that never ends answered \(String(describing: code))")
            }
            // Each ran at most its timeout, the grace for its cancel and the wait for its backend
            // to leave after the hang-up, plus its turn behind the others.
            #expect(ContinuousClock.now - started < .seconds(60))
            let gone = try await Runtime.eventually(timeout: .seconds(10)) {
                try await Self.running(server, database: database) == 0
            }
            let (peak, samples) = watcher.stop()
            let longest = answers.map(\.1).max() ?? .zero
            print("BackendCapTests: 7 stubborn single shots on max 2: codes \(Set(answers.compactMap(\.0)).sorted()), all answered in \(ContinuousClock.now - started), longest \(longest), peak backends \(peak) in \(samples) samples")
            #expect(gone, "a stubborn backend outlived its connection")
            #expect(samples > 10)
            #expect(peak <= 2, "\(peak) backends on a pool of max 2")
            let status = try registry.status(pool: "p")
            #expect(status.counts.open <= 2)
        }
    }

    @Test("a backend that also stops watching its client is terminated through another connection of the pool")
    func deafBackendIsTerminated() async throws {
        try await Runtime.withFixture(configure: { settings in
            settings.max = 2
            settings.statementTimeout = .seconds(1)
        }) { registry, server, database in
            let watcher = try await BackendSampler(server, database: database)
            let shot = Task {
                await Runtime.error {
                    try await registry.queryOnce(pool: "p", caller: Runtime.alice, sql: Self.deaf, parameters: [], timeout: nil)
                }
            }
            // Timed from the statement's start, which a borrow on a loaded machine may delay.
            _ = try await Runtime.eventually(timeout: .seconds(10)) { try await Self.running(server, database: database) == 1 }
            let began = ContinuousClock.now
            let error = await shot.value
            print("BackendCapTests: deaf statement answered \(error?.code ?? "200") \(ContinuousClock.now - began) after it started")
            #expect(error != nil)
            // Timeout 1 s, grace 3 s, 2 s for the backend to leave after the hang-up.
            #expect(ContinuousClock.now - began < .seconds(8), "the statement held its caller \(ContinuousClock.now - began)")
            let gone = try await Runtime.eventually(timeout: .seconds(15)) {
                try await Self.running(server, database: database) == 0
            }
            #expect(gone, "the deaf backend was not terminated")
            let (peak, _) = watcher.stop()
            print("BackendCapTests: deaf backend terminated, peak backends \(peak) on max 2")
            #expect(peak <= 2, "\(peak) backends on a pool of max 2")
            let next = try await registry.queryOnce(pool: "p", caller: Runtime.bob, sql: "SELECT 1", parameters: [], timeout: nil)
            #expect(Runtime.int(next) == 1)
        }
    }

    @Test("with no connection to spare, the slot stays counted and says why, until the backend is gone")
    func slotStaysCountedWhenTheBackendCannotBeTerminated() async throws {
        try await Runtime.withFixture(configure: { settings in
            settings.max = 1
            settings.statementTimeout = .seconds(1)
        }) { registry, server, database in
            let watcher = try await BackendSampler(server, database: database)
            _ = await Runtime.error {
                try await registry.queryOnce(pool: "p", caller: Runtime.alice, sql: Self.deaf, parameters: [], timeout: nil)
            }
            let noted = try await Runtime.eventually(timeout: .seconds(10)) {
                try registry.status(pool: "p").connections.contains { $0.state == "closing" && $0.note?.contains("did not exit") == true }
            }
            let rows = try registry.status(pool: "p").connections
            #expect(noted, "status does not say why the connection still counts: \(rows)")
            let refused = await Runtime.error { try await registry.borrow("p", Runtime.bob, wait: .milliseconds(300)) }
            #expect(refused?.code == "pool_exhausted", "a borrow got a second backend past max 1")
            // Someone else ends it (an operator, here the superuser): the slot is freed without help.
            try await server.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND query LIKE '%pg_sleep(0.5)%'", [database])
            let freed = await Runtime.eventually(timeout: .seconds(10)) {
                (try? registry.status(pool: "p").counts.open) == 0
            }
            #expect(freed, "the slot stayed counted after its backend exited")
            let (peak, _) = watcher.stop()
            #expect(peak <= 1, "\(peak) backends on a pool of max 1")
            let next = try await registry.queryOnce(pool: "p", caller: Runtime.bob, sql: "SELECT 1", parameters: [], timeout: nil)
            #expect(Runtime.int(next) == 1)
        }
    }

    @Test("releasing a lease while its statement runs cancels the statement and answers within a second")
    func releaseCancelsTheRunningStatement() async throws {
        try await Runtime.withFixture { registry, server, database in
            let token = try await registry.token("p", Runtime.alice)
            _ = try await registry.run(token, Runtime.alice, "CREATE TABLE kept (id int)")
            _ = try await registry.run(token, Runtime.alice, "BEGIN")
            _ = try await registry.run(token, Runtime.alice, "INSERT INTO kept VALUES (1)")
            let running = Task { await Runtime.error { try await registry.run(token, Runtime.alice, "SELECT pg_sleep(30)") } }
            #expect(try await Runtime.eventually { try await Self.running(server, database: database, like: "%pg_sleep(30)%") == 1 })
            let began = ContinuousClock.now
            try await registry.release(token: token, caller: Runtime.alice)
            print("BackendCapTests: release of a lease running pg_sleep(30) answered in \(ContinuousClock.now - began)")
            #expect(ContinuousClock.now - began < .milliseconds(1500), "the release took \(ContinuousClock.now - began)")
            let error = await running.value
            #expect(error?.code == "sql_error" || error?.code == "lease_gone", "\(String(describing: error))")
            #expect(await Runtime.error { try await registry.run(token, Runtime.alice, "SELECT 1") } != nil)
            let rows = try await Runtime.count(server, database: database, sql: "SELECT count(*) FROM kept")
            #expect(rows == 0, "the released lease's open transaction was committed")
        }
    }

    @Test("releasing a lease whose statement ignores the cancel still answers within about a second")
    func releaseOfAStubbornStatement() async throws {
        try await Runtime.withFixture { registry, server, database in
            let token = try await registry.token("p", Runtime.alice)
            let running = Task { await Runtime.error { try await registry.run(token, Runtime.alice, Self.stubborn) } }
            let started = try await Runtime.eventually { try await Self.running(server, database: database, sleeping: true) == 1 }
            let activity = try await server.execute("SELECT state, query FROM pg_stat_activity WHERE datname = $1", [database]).rows
            #expect(started, "\(activity)")
            let began = ContinuousClock.now
            try await registry.release(token: token, caller: Runtime.alice)
            print("BackendCapTests: release of a lease running a stubborn statement answered in \(ContinuousClock.now - began)")
            #expect(ContinuousClock.now - began < .milliseconds(2500), "the release took \(ContinuousClock.now - began)")
            let error = await running.value
            #expect(error?.code == "lease_gone", "\(String(describing: error))")
            let gone = try await Runtime.eventually(timeout: .seconds(10)) {
                try await Self.running(server, database: database) == 0
            }
            #expect(gone)
        }
    }
}
