import Foundation
@testable import PoolWardenHTTP
@testable import PoolWardenRuntime
import PostgresLibPQ
import TestPostgres
import Testing

/// Leases at runtime level against a real PostgreSQL: borrow, statements, transactions, release,
/// expiry, renewal, idempotency, quotas, ownership and the per-statement guards.
@Suite struct PoolRegistryLeaseTests {
    @Test func borrowQueryReleaseTagsTheHolder() async throws {
        let metrics = RuntimeTestMetrics()
        try await Runtime.withFixture(metrics: metrics) { registry, server, database in
            let outcome = try await registry.borrow("p", Runtime.alice)
            #expect(outcome.created)
            let lease = outcome.lease
            let token = try #require(lease.token)
            #expect(LeaseToken.isWellFormed(token))
            #expect(lease.tokenPrefix == String(token.prefix(12)))
            #expect(lease.pool == "p" && lease.caller == "alice" && lease.ttl == .seconds(30))
            #expect(lease.expiresAt > lease.createdAt.addingTimeInterval(29))

            let pid = try await registry.run(token, Runtime.alice, "SELECT pg_backend_pid()")
            #expect(Runtime.int(pid) == Int64(lease.backendPID))
            let sum = try await registry.run(token, Runtime.alice, "SELECT $1::int + $2::int", ["40", "2"])
            #expect(Runtime.int(sum) == 42)

            // pg_stat_activity names the holder while leased, and only the pool once it is back.
            let leased = try await Runtime.backends(server, database: database)
            #expect(leased[lease.backendPID] == "poolwarden:p:alice:\(lease.tokenPrefix)")
            let view = try registry.lease(token: token, caller: Runtime.alice)
            #expect(view.token == nil && view.lastUsedAt != nil && view.transactionStatus == .idle)

            try await registry.release(token: token, caller: Runtime.alice)
            // The name goes back on PoolCore's reset path, right after the release has answered.
            #expect(try await Runtime.eventually { try await Runtime.backends(server, database: database)[lease.backendPID] == "poolwarden:p" })
            #expect(await Runtime.eventually { (try? registry.status(pool: "p").counts.idle) == 1 })
            #expect(await Runtime.error { try registry.lease(token: token, caller: Runtime.alice) } == .leaseNotFound)
            #expect(await Runtime.error { try await registry.release(token: token, caller: Runtime.alice) } == .leaseNotFound)

            let status = try registry.status(pool: "p")
            #expect(status.counts.idle == 1 && status.counts.leased == 0 && status.totals.borrows == 1)
            // Counters are brought up to the status totals when the metrics are sampled.
            registry.refreshMetrics()
            #expect(metrics.counter("poolwarden_borrows_total", pool: "p") == 1)
            #expect(metrics.counter("poolwarden_connect_attempts_total", pool: "p") == 1)
            #expect(metrics.timings("poolwarden_query_duration_seconds", pool: "p").count == 2)
            #expect(metrics.timings("poolwarden_borrow_wait_seconds", pool: "p").count == 1)
            registry.refreshMetrics()
            #expect(metrics.gauge("poolwarden_connections_idle", pool: "p") == 1)
            #expect(metrics.gauge("poolwarden_connections_open", pool: "p") == 1)
        }
    }

    @Test func transactionAcrossThreeCallsCommits() async throws {
        try await Runtime.withFixture { registry, server, database in
            try await server.execute("CREATE TABLE t (v int)", database: database)

            let token = try await registry.token("p", Runtime.alice)
            _ = try await registry.run(token, Runtime.alice, "BEGIN")
            let insert = try await registry.run(token, Runtime.alice, "INSERT INTO t VALUES ($1)", ["7"])
            #expect(insert.command == "INSERT" && insert.rowCount == 1)
            #expect(try registry.lease(token: token, caller: Runtime.alice).transactionStatus == .inTransaction)
            #expect(try await Runtime.count(server, database: database, sql: "SELECT count(*) FROM t") == 0)
            _ = try await registry.run(token, Runtime.alice, "COMMIT")
            #expect(try await Runtime.count(server, database: database, sql: "SELECT count(*) FROM t") == 1)
            try await registry.release(token: token, caller: Runtime.alice)
        }
    }

    @Test func releaseRollsBackAnOpenTransaction() async throws {
        try await Runtime.withFixture { registry, server, database in
            try await server.execute("CREATE TABLE t (v int)", database: database)

            let first = try await registry.borrow("p", Runtime.alice).lease
            let token = try #require(first.token)
            _ = try await registry.run(token, Runtime.alice, "BEGIN")
            _ = try await registry.run(token, Runtime.alice, "INSERT INTO t VALUES (1)")
            try await registry.release(token: token, caller: Runtime.alice)
            #expect(try await Runtime.count(server, database: database, sql: "SELECT count(*) FROM t") == 0)

            // The same connection comes back clean, its tag reset.
            let second = try await registry.borrow("p", Runtime.bob).lease
            #expect(second.backendPID == first.backendPID)
            #expect(second.transactionStatus == .idle)
            let again = try #require(second.token)
            let name = try await registry.run(again, Runtime.bob, "SHOW application_name")
            #expect(name.rows.first?.first == .string("poolwarden:p:bob:\(second.tokenPrefix)"))
            _ = try await registry.run(again, Runtime.bob, "INSERT INTO t VALUES (2)")
            try await registry.release(token: again, caller: Runtime.bob)
            #expect(try await Runtime.count(server, database: database, sql: "SELECT count(*) FROM t") == 1)
        }
    }

    @Test func idleLeaseExpiresAndItsWorkIsRolledBack() async throws {
        let metrics = RuntimeTestMetrics()
        try await Runtime.withFixture(metrics: metrics, configure: { $0.leaseTTL = .seconds(1) }) { registry, server, database in
            try await server.execute("CREATE TABLE t (v int)", database: database)

            let token = try await registry.token("p", Runtime.alice)
            _ = try await registry.run(token, Runtime.alice, "BEGIN")
            _ = try await registry.run(token, Runtime.alice, "INSERT INTO t VALUES (1)")
            let expired = await Runtime.eventually {
                (try? registry.status(pool: "p").totals.expired) == 1
            }
            #expect(expired)
            let gone = WardenError.leaseGone(reason: .expired)
            #expect(await Runtime.error { try await registry.run(token, Runtime.alice, "COMMIT") } == gone)
            #expect(await Runtime.error { try registry.lease(token: token, caller: Runtime.alice) } == gone)
            #expect(await Runtime.error { try await registry.release(token: token, caller: Runtime.alice) } == gone)
            // Only its owner (or an admin) learns that it existed.
            #expect(await Runtime.error { try registry.lease(token: token, caller: Runtime.bob) } == .leaseNotFound)
            #expect(await Runtime.error { try registry.lease(token: token, caller: Runtime.ops) } == gone)
            #expect(try await Runtime.count(server, database: database, sql: "SELECT count(*) FROM t") == 0)
            #expect(await Runtime.eventually { (try? registry.status(pool: "p").counts.idle) == 1 })
            registry.refreshMetrics()
            #expect(metrics.counter("poolwarden_leases_expired_total", pool: "p") == 1)
        }
    }

    // Own thread, and its pause blocks that thread: Task.sleep wakes through the shared cooperative
    // pool, which a loaded machine holds for up to a second or two. The TTL fires on time whatever
    // that pool does; what the test cannot bound is how soon a thread of a loaded machine runs
    // again, so each step leaves the lease a whole TTL (1 s), not a fraction of one: two runs of
    // scripts/test-loaded lost a 300 ms TTL between the statement and the renew 150 ms later.
    @Test(.ownThread) func runningStatementKeepsTheLeaseAndRenewExtendsIt() async throws {
        try await Runtime.withFixture(configure: { $0.leaseTTL = .seconds(1) }) { registry, _, _ in
            let token = try await registry.token("p", Runtime.alice)
            // A statement longer than the TTL does not expire the lease under it.
            _ = try await registry.run(token, Runtime.alice, "SELECT pg_sleep(1.5)")
            let renewed = try registry.renew(token: token, caller: Runtime.alice, ttl: .seconds(4))
            #expect(renewed.ttl == .seconds(4))
            #expect(renewed.expiresAt > Date().addingTimeInterval(3.5))
            // Past the first TTL: only the renewal keeps it.
            usleep(1_200_000)
            _ = try await registry.run(token, Runtime.alice, "SELECT 1")
            let zero = await Runtime.error { try registry.renew(token: token, caller: Runtime.alice, ttl: .zero) }
            #expect(zero == .invalidRequest("ttl_ms must be positive", field: "ttl_ms"))
            try await registry.release(token: token, caller: Runtime.alice)
            #expect(await Runtime.error { try registry.renew(token: token, caller: Runtime.alice, ttl: nil) } == .leaseNotFound)
        }
    }

    @Test func idempotentKeyAnswersTheSameLease() async throws {
        try await Runtime.withFixture { registry, _, _ in
            let first = try await registry.borrow("p", Runtime.alice, key: "job-1")
            let second = try await registry.borrow("p", Runtime.alice, key: "job-1")
            #expect(first.created && !second.created)
            #expect(first.lease.token == second.lease.token && second.lease.key == "job-1")
            let other = try await registry.borrow("p", Runtime.bob, key: "job-1")
            #expect(other.created && other.lease.token != first.lease.token)
            #expect(try registry.status(pool: "p").counts.leased == 2)

            try await registry.release(token: try #require(first.lease.token), caller: Runtime.alice)
            let third = try await registry.borrow("p", Runtime.alice, key: "job-1")
            #expect(third.created && third.lease.token != first.lease.token)
        }
    }

    @Test func callerQuotaAndOwnership() async throws {
        try await Runtime.withFixture(configure: { $0.maxPerCaller = 1 }) { registry, _, _ in
            let lease = try await registry.borrow("p", Runtime.alice).lease
            let token = try #require(lease.token)
            // A borrow over the quota waits; one whose wait ends with the caller still at it says so.
            let quota = await Runtime.error { try await registry.borrow("p", Runtime.alice, wait: .milliseconds(200)) }
            #expect(quota == .callerQuota(pool: "p", limit: 1, waited: .milliseconds(200), retryAfterSeconds: 1))
            // It waits in its place without holding up another caller behind it.
            let alicesNext = Task { try await registry.borrow("p", Runtime.alice, wait: .seconds(20)) }
            #expect(await Runtime.eventually { (try? registry.status(pool: "p").counts.waiting) == 1 })
            let bobs = try await registry.borrow("p", Runtime.bob).lease
            #expect(try registry.status(pool: "p").counts.waiting == 1)

            // Another client's token is unknown to everything; an admin may use it.
            #expect(await Runtime.error { try await registry.run(token, Runtime.bob, "SELECT 1") } == .leaseNotFound)
            #expect(await Runtime.error { try await registry.release(token: token, caller: Runtime.bob) } == .leaseNotFound)
            #expect(await Runtime.error { try registry.renew(token: token, caller: Runtime.bob, ttl: nil) } == .leaseNotFound)
            #expect(await Runtime.error { try registry.lease(token: token, caller: Runtime.bob) } == .leaseNotFound)
            #expect(try registry.lease(token: token, caller: Runtime.ops).caller == "alice")
            #expect(await Runtime.error { try registry.lease(token: "pwl_short", caller: Runtime.alice) } == .leaseNotFound)
            #expect(await Runtime.error { try registry.lease(token: LeaseToken.generate(), caller: Runtime.ops) } == .leaseNotFound)

            // Listings: a client sees its own, an admin all, and no listing carries a token.
            let alices = try registry.leases(pool: "p", caller: Runtime.alice)
            #expect(alices.map(\.tokenPrefix) == [lease.tokenPrefix] && alices.allSatisfy { $0.token == nil })
            #expect(Set(try registry.leases(pool: "p", caller: Runtime.ops).map(\.tokenPrefix)) == [lease.tokenPrefix, bobs.tokenPrefix])
            #expect(await Runtime.error { try registry.leases(pool: "nope", caller: Runtime.ops) } == .poolNotFound("nope"))
            let restricted = CallerIdentity(name: "carol", role: .client, pools: ["other"])
            #expect(await Runtime.error { try await registry.borrow("p", restricted) } == .forbidden("caller carol may not use pool p"))

            // An admin may release a client's lease; its quota is free again, and its waiting
            // borrow gets the lease.
            try await registry.release(token: token, caller: Runtime.ops)
            #expect(try await alicesNext.value.lease.caller == "alice")
        }
    }

    @Test func sqlErrorsKeepTheLeaseAndASecondStatementIsBusy() async throws {
        try await Runtime.withFixture { registry, _, _ in
            let token = try await registry.token("p", Runtime.alice)

            func run(_ sql: String) async throws(WardenError) -> PGQueryResult {
                try await registry.query(token: token, caller: Runtime.alice, sql: sql, parameters: [], timeout: nil)
            }
            guard case .sqlError(let error) = await Runtime.error({ try await run("SELECT 1/0") }) else {
                Issue.record("division by zero should be a SQL error")
                return
            }
            #expect(error.sqlState == "22012")
            _ = try await run("BEGIN")
            #expect(await Runtime.error { try await run("SELECT * FROM missing_table") } != nil)
            guard case .sqlError(let aborted) = await Runtime.error({ try await run("SELECT 1") }) else {
                Issue.record("a failed transaction should refuse statements")
                return
            }
            #expect(aborted.sqlState == "25P02")
            #expect(try registry.lease(token: token, caller: Runtime.alice).transactionStatus == .inFailedTransaction)
            _ = try await run("ROLLBACK")
            #expect(Runtime.int(try await run("SELECT 3")) == 3)

            // A child task, on this test's thread: an unstructured one would run on the global
            // executor, and a loaded machine can keep it from ending the statement's bookkeeping
            // within the release's 1 s wait, so the release closes the connection instead.
            async let slow = Runtime.error { try await run("SELECT pg_sleep(30)") }
            #expect(await Runtime.eventually { (try? registry.lease(token: token, caller: Runtime.alice).transactionStatus) == .active })
            #expect(await Runtime.error { try await run("SELECT 1") } == .leaseBusy)
            // A release while a statement runs cancels it (see BackendCapTests for its bound). It
            // waits a second for the statement to stop, then closes the connection instead: on a
            // loaded machine the cancel (a new connection the postmaster forks for) can take longer.
            let released = ContinuousClock.now
            try await registry.release(token: token, caller: Runtime.alice)
            #expect(ContinuousClock.now - released < PoolRegistry.releaseCancelWait + .seconds(2))
            switch await slow {
            case .sqlError(let cancelled)?:
                #expect(cancelled.sqlState == "57014")
            case .leaseGone?, .connectionLost?:
                print("PoolRegistryLeaseTests: the statement outlived the release's wait; its connection was closed")
            case let other:
                Issue.record("the running statement was neither cancelled nor cut off by the release: \(String(describing: other))")
            }
        }
    }

    // Own thread: the caller's task then resumes at once, and the bound measures the registry's
    // deadline and cancel rather than the shared pool's queue.
    @Test(.ownThread) func statementTimeoutCancelsAndTheLeaseStaysUsable() async throws {
        try await Runtime.withFixture(configure: {
            $0.statementTimeout = .milliseconds(200)
            $0.maxStatementTimeout = .milliseconds(500)
        }) { registry, _, _ in
            let token = try await registry.token("p", Runtime.alice)

            let clock = ContinuousClock()
            var error: WardenError?
            let elapsed = await clock.measure {
                error = await Runtime.error { try await registry.run(token, Runtime.alice, "SELECT pg_sleep(5)") }
            }
            #expect(error == .statementTimeout(.milliseconds(200)))
            // The product's bound: the timeout plus the grace the cancel gets before the connection
            // would be closed (a statement_timeout answer proves the cancel came within it). The
            // cancel is a new connection the postmaster forks for: beside busy loops one took 2.3 s.
            #expect(elapsed < .milliseconds(200) + ServerConnection.statementGrace)
            // A request may ask for less, or more up to the pool's maximum.
            let short = await Runtime.error { try await registry.run(token, Runtime.alice, "SELECT pg_sleep(5)", timeout: .milliseconds(50)) }
            #expect(short == .statementTimeout(.milliseconds(50)))
            let capped = await Runtime.error { try await registry.run(token, Runtime.alice, "SELECT pg_sleep(5)", timeout: .seconds(60)) }
            #expect(capped == .statementTimeout(.milliseconds(500)))
            _ = try await registry.run(token, Runtime.alice, "SELECT pg_sleep(0.3)", timeout: .milliseconds(450))
            #expect(Runtime.int(try await registry.run(token, Runtime.alice, "SELECT 1")) == 1)
            try await registry.release(token: token, caller: Runtime.alice)
        }
    }

    @Test func resultTooLargeKeepsTheLease() async throws {
        try await Runtime.withFixture(configure: {
            $0.maxResultRows = 10
            $0.maxResultBytes = 1000
        }) { registry, _, _ in
            let token = try await registry.token("p", Runtime.alice)

            let rows = await Runtime.error { try await registry.run(token, Runtime.alice, "SELECT generate_series(1, 100)") }
            guard case .resultTooLarge = rows else {
                Issue.record("expected result_too_large, got \(String(describing: rows))")
                return
            }
            let bytes = await Runtime.error { try await registry.run(token, Runtime.alice, "SELECT repeat('x', 2000)") }
            guard case .resultTooLarge = bytes else {
                Issue.record("expected result_too_large, got \(String(describing: bytes))")
                return
            }
            let fine = try await registry.run(token, Runtime.alice, "SELECT generate_series(1, 10)")
            #expect(fine.rows.count == 10)
            try await registry.release(token: token, caller: Runtime.alice)
        }
    }

    @Test func terminatedBackendEndsTheLeaseAndIsReplaced() async throws {
        try await Runtime.withFixture(configure: { $0.min = 1 }) { registry, server, database in
            let lease = try await registry.borrow("p", Runtime.alice).lease
            let token = try #require(lease.token)

            try await server.execute("SELECT pg_terminate_backend($1)", ["\(lease.backendPID)"])
            let lost = WardenError.leaseGone(reason: .connectionLost)
            #expect(await Runtime.error { try await registry.run(token, Runtime.alice, "SELECT 1") } == lost)
            #expect(await Runtime.error { try await registry.run(token, Runtime.alice, "SELECT 1") } == lost)
            #expect(await Runtime.error { try await registry.release(token: token, caller: Runtime.alice) } == lost)

            // The pool is back at min with a new backend.
            let replaced = try await Runtime.eventually {
                let status = try registry.status(pool: "p")
                let backends = try await Runtime.backends(server, database: database)
                return status.counts.idle == 1 && status.counts.leased == 0 && backends.count == 1 && backends[lease.backendPID] == nil
            }
            #expect(replaced)
            let next = try await registry.borrow("p", Runtime.alice).lease
            #expect(next.backendPID != lease.backendPID)
        }
    }

    @Test func queryOnceBorrowsRunsAndReleases() async throws {
        try await Runtime.withFixture { registry, server, database in
            try await server.execute("CREATE TABLE t (v int)", database: database)

            let result = try await registry.queryOnce(
                pool: "p", caller: Runtime.alice, sql: "SELECT $1::text AS greeting", parameters: ["hi"], timeout: nil
            )
            #expect(result.columns.map(\.name) == ["greeting"] && result.rows == [[.string("hi")]])
            // A statement that leaves a transaction open is rolled back at release.
            _ = try await registry.queryOnce(pool: "p", caller: Runtime.alice, sql: "BEGIN", parameters: [], timeout: nil)
            let syntax = await Runtime.error { try await registry.queryOnce(pool: "p", caller: Runtime.alice, sql: "SELEC", parameters: [], timeout: nil) }
            guard case .sqlError = syntax else {
                Issue.record("a syntax error should be a SQL error")
                return
            }
            _ = try await registry.queryOnce(pool: "p", caller: Runtime.alice, sql: "INSERT INTO t VALUES (1)", parameters: [], timeout: nil)
            #expect(try await Runtime.count(server, database: database, sql: "SELECT count(*) FROM t") == 1)
            let status = try registry.status(pool: "p")
            #expect(status.counts.leased == 0 && status.totals.borrows == 4)
            #expect(try registry.leases(pool: "p", caller: Runtime.ops).isEmpty)
        }
    }
}

@Suite("Revoke by prefix")
struct RevokeByPrefixTests {
    @Test("a prefix that several live leases share is refused, whichever they are")
    func ambiguousPrefix() async throws {
        // 65 tokens over 64 possible fifth characters: two of them share "pwl_" and one more.
        try await Runtime.withFixture(configure: { $0.max = 65 }) { registry, _, _ in
            var tokens: [String] = []
            for _ in 0..<65 { tokens.append(try await registry.token("p", Runtime.alice)) }
            let groups = Dictionary(grouping: tokens) { String($0.prefix(5)) }
            let shared = try #require(groups.first { $0.value.count > 1 })
            let error = await Runtime.error { try await registry.revoke(pool: "p", prefix: shared.key, caller: Runtime.ops) }
            #expect(error == .ambiguousPrefix(shared.key, matches: shared.value.count))
            let client = await Runtime.error { try await registry.revoke(pool: "p", prefix: shared.key, caller: Runtime.alice) }
            #expect(client?.code == "forbidden")
            // The whole token's prefix picks one.
            let one = try await registry.revoke(pool: "p", prefix: String(shared.value[0].prefix(12)), caller: Runtime.ops)
            #expect(one.caller == "alice")
            #expect(await Runtime.error { try await registry.run(shared.value[0], Runtime.alice, "SELECT 1") } == .leaseGone(reason: .revoked))
            for token in tokens where token != shared.value[0] { try await registry.release(token: token, caller: Runtime.alice) }
        }
    }
}
