import Foundation
@testable import PoolWardenHTTP
@testable import PoolWardenRuntime
import PostgresLibPQ
import Synchronization
import TestPostgres
import Testing

/// Pools at runtime level against a real PostgreSQL: waiting, cancellation, resize, recycle,
/// pause, shared server budgets, starting before the server, delete and shutdown.
@Suite struct PoolRegistryPoolTests {
    @Test func exhaustedPoolAnswersAfterTheWait() async throws {
        let metrics = RuntimeTestMetrics()
        try await Runtime.withFixture(metrics: metrics, configure: { $0.max = 1 }) { registry, _, _ in
            _ = try await registry.borrow("p", Runtime.alice)
            let clock = ContinuousClock()
            var error: WardenError?
            let elapsed = await clock.measure {
                error = await Runtime.error { try await registry.borrow("p", Runtime.bob, wait: .milliseconds(200)) }
            }
            guard case .poolExhausted(let pool, let waited, let retryAfter) = error else {
                Issue.record("expected pool_exhausted, got \(String(describing: error))")
                return
            }
            #expect(pool == "p" && waited == .milliseconds(200) && retryAfter >= 1)
            #expect(elapsed >= .milliseconds(190) && elapsed < .seconds(2))
            // wait 0 never waits.
            #expect(await Runtime.error { try await registry.borrow("p", Runtime.bob, wait: .zero) } != nil)
            let status = try registry.status(pool: "p")
            #expect(status.totals.timeouts == 2 && status.counts.waiting == 0)
            registry.refreshMetrics()
            #expect(metrics.counter("poolwarden_borrow_timeouts_total", pool: "p") == 2)
            #expect(await Runtime.error { try await registry.borrow("nope", Runtime.bob) } == .poolNotFound("nope"))
        }
    }

    @Test func cancelledWaitingBorrowLeaksNothing() async throws {
        try await Runtime.withFixture(configure: { $0.max = 1 }) { registry, _, _ in
            var holder: (caller: CallerIdentity, token: String)? = (Runtime.alice, try await registry.token("p", Runtime.alice))

            // A borrow whose client goes away leaves the queue at once.
            let gone = Task { try await registry.borrow("p", Runtime.bob, wait: .seconds(30)) }
            #expect(await Runtime.eventually { (try? registry.status(pool: "p").counts.waiting) == 1 })
            gone.cancel()
            #expect(await Runtime.eventually { (try? registry.status(pool: "p").counts.waiting) == 0 })
            #expect((try? await gone.value) == nil)

            // A release racing the cancel: the connection either reaches the waiter, which gives it
            // back, or stays in the pool; it never stays leased to nobody.
            for round in 0..<30 {
                let waiter = CallerIdentity(name: "w\(round)", role: .client)
                let task = Task { try await registry.borrow("p", waiter, wait: .seconds(5)) }
                #expect(await Runtime.eventually { (try? registry.status(pool: "p").counts.waiting) == 1 })
                let current = try #require(holder)
                if round.isMultiple(of: 2) {
                    task.cancel()
                    try await registry.release(token: current.token, caller: current.caller)
                } else {
                    async let released: Void = registry.release(token: current.token, caller: current.caller)
                    task.cancel()
                    try await released
                }
                holder = nil
                if case .success(let outcome) = await task.result {
                    holder = (waiter, try #require(outcome.lease.token))
                }
                if holder == nil {
                    holder = (Runtime.alice, try await registry.token("p", Runtime.alice))
                }
            }
            let last = try #require(holder)
            try await registry.release(token: last.token, caller: last.caller)
            let settled = await Runtime.eventually {
                guard let status = try? registry.status(pool: "p") else { return false }
                return status.counts.leased == 0 && status.counts.waiting == 0 && status.counts.idle == 1
            }
            #expect(settled)
            #expect(try registry.leases(pool: "p", caller: Runtime.ops).isEmpty)
            _ = try await registry.borrow("p", Runtime.bob, wait: .zero)
        }
    }

    @Test func resizeDownWithLeasesOutSettlesAtTheNewMax() async throws {
        try await Runtime.withFixture(configure: { $0.max = 4 }) { registry, server, database in
            var tokens: [String] = []
            for _ in 0..<4 {
                tokens.append(try await registry.token("p", Runtime.alice))
            }
            #expect(try await Runtime.backends(server, database: database).count == 4)
            let resized = try await registry.updatePool("p", PoolPatch(max: 2))
            #expect(resized.max == 2 && resized.counts.leased == 4)
            // No lease is cut by a resize.
            for token in tokens {
                _ = try await registry.run(token, Runtime.alice, "SELECT 1")
            }
            for token in tokens {
                try await registry.release(token: token, caller: Runtime.alice)
            }
            let settled = try await Runtime.eventually {
                try await Runtime.backends(server, database: database).count <= 2
            }
            #expect(settled)
            // A closing connection counts until its end of stream is read, a moment after its
            // backend left pg_stat_activity.
            #expect(try await Runtime.eventually { try registry.status(pool: "p").counts.open <= 2 })
            // Growing again serves more at once.
            _ = try await registry.updatePool("p", PoolPatch(min: 3, max: 3))
            #expect(try await Runtime.eventually { try await Runtime.backends(server, database: database).count == 3 })
        }
    }

    @Test func immediateRecycleRevokesLeasesAndFreshBackendsFollow() async throws {
        let metrics = RuntimeTestMetrics()
        try await Runtime.withFixture(metrics: metrics, configure: { $0.min = 2 }) { registry, server, database in
            try await server.execute("CREATE TABLE t (v int)", database: database)
            let first = try await registry.borrow("p", Runtime.alice).lease
            let second = try await registry.borrow("p", Runtime.bob).lease
            let token = try #require(first.token)
            _ = try await registry.run(token, Runtime.alice, "BEGIN")
            _ = try await registry.run(token, Runtime.alice, "INSERT INTO t VALUES (1)")

            let counts = try registry.recycle("p", mode: .immediate, olderThan: nil)
            #expect(counts == RecycleCounts(closed: 0, deferred: 0, revoked: 2))
            let revoked = WardenError.leaseGone(reason: .revoked)
            #expect(await Runtime.error { try await registry.run(token, Runtime.alice, "COMMIT") } == revoked)
            #expect(await Runtime.error { try await registry.release(token: try #require(second.token), caller: Runtime.bob) } == revoked)
            #expect(try await Runtime.count(server, database: database, sql: "SELECT count(*) FROM t") == 0)

            let old: Set<Int32> = [first.backendPID, second.backendPID]
            let fresh = try await Runtime.eventually {
                let backends = try await Runtime.backends(server, database: database)
                return backends.count == 2 && old.isDisjoint(with: backends.keys)
            }
            #expect(fresh)
            let next = try await registry.borrow("p", Runtime.alice).lease
            #expect(!old.contains(next.backendPID))
            let status = try registry.status(pool: "p")
            #expect(status.totals.revoked == 2 && status.totals.recycled == 2)
            registry.refreshMetrics()
            #expect(metrics.counter("poolwarden_leases_revoked_total", pool: "p") == 2)
            #expect(metrics.counter("poolwarden_connections_recycled_total", pool: "p") == 2)
        }
    }

    @Test func gracefulRecycleClosesIdleNowAndLeasedAtRelease() async throws {
        try await Runtime.withFixture(configure: { $0.min = 2 }) { registry, server, database in
            #expect(await Runtime.eventually { (try? registry.status(pool: "p").counts.idle) == 2 })
            let leased = try await registry.borrow("p", Runtime.alice).lease
            let idle = try await Runtime.backends(server, database: database).keys.filter { $0 != leased.backendPID }

            let counts = try registry.recycle("p", mode: .graceful, olderThan: nil)
            #expect(counts == RecycleCounts(closed: 1, deferred: 1, revoked: 0))
            let token = try #require(leased.token)
            _ = try await registry.run(token, Runtime.alice, "SELECT 1")
            #expect(try await Runtime.eventually { try await Runtime.backends(server, database: database)[idle[0]] == nil })
            #expect(try await Runtime.backends(server, database: database)[leased.backendPID] != nil)

            try await registry.release(token: token, caller: Runtime.alice)
            let old = Set(idle + [leased.backendPID])
            let fresh = try await Runtime.eventually {
                let backends = try await Runtime.backends(server, database: database)
                return backends.count == 2 && old.isDisjoint(with: backends.keys)
            }
            #expect(fresh)
            // older_than spares connections younger than it.
            #expect(try registry.recycle("p", mode: .graceful, olderThan: .seconds(3600)) == RecycleCounts())
        }
    }

    @Test func pausedPoolHoldsBorrowsAndLeasesGoOn() async throws {
        try await Runtime.withFixture { registry, _, _ in
            let token = try await registry.token("p", Runtime.alice)
            #expect(try registry.pause("p").state == "paused")
            let waiting = Task { try await registry.borrow("p", Runtime.bob, wait: .seconds(10)) }
            #expect(await Runtime.eventually { (try? registry.status(pool: "p").counts.waiting) == 1 })
            _ = try await registry.run(token, Runtime.alice, "SELECT 1")
            try await registry.release(token: token, caller: Runtime.alice)
            try await Task.sleep(for: .milliseconds(100))
            #expect(try registry.status(pool: "p").counts.waiting == 1)
            #expect(try registry.resume("p").state == "running")
            let outcome = try await waiting.value
            #expect(outcome.created && outcome.lease.caller == "bob")
        }
    }

    @Test func twoPoolsSharingAServerBudgetNeverExceedIt() async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase(prefix: "rt")
        let pools = ["a", "b"].map { name in
            Runtime.settings(name, server, database: database) {
                $0.max = 3
                $0.borrowTimeout = .seconds(10)
            }
        }
        let budget = ServerBudgetSettings(host: server.host, port: server.port, maxConnections: 3)
        let registry = await Runtime.registry(pools, servers: [budget])
        let sampler = try await server.connect()
        let done = Mutex(false)

        // Samples the database's backends as PostgreSQL sees them. A backend the registry has
        // closed stays listed until its process has exited (up to tens of milliseconds later); it
        // no longer counts against the budget, so backends the registry showed before and no
        // longer shows are left out of the count.
        let sampling = Task { () throws -> Int in
            var known = Set<Int32>()
            var peak = 0
            func live() -> Set<Int32> {
                Set(registry.statuses().flatMap { $0.connections.compactMap(\.backendPID) })
            }
            while !done.withLock({ $0 }) {
                known.formUnion(live())
                let result = try await sampler.query(
                    "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'", [database]
                )
                let sampled = Set(result.rows.compactMap { row -> Int32? in
                    guard case .int(let pid) = row.first else { return nil }
                    return Int32(pid)
                })
                let after = live()
                known.formUnion(after)
                let exiting = sampled.intersection(known).subtracting(after)
                peak = Swift.max(peak, sampled.count - exiting.count)
                try await Task.sleep(for: .milliseconds(2))
            }
            return peak
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    let caller = CallerIdentity(name: "worker\(worker)", role: .client)
                    for round in 0..<12 {
                        let pool = (worker + round).isMultiple(of: 2) ? "a" : "b"
                        let outcome = try await registry.borrow(pool: pool, caller: caller, ttl: nil, wait: nil, key: nil)
                        let token = try #require(outcome.lease.token)
                        _ = try await registry.run(token, caller, "SELECT pg_sleep(0.005)")
                        try await registry.release(token: token, caller: caller)
                    }
                }
            }
            try await group.waitForAll()
        }
        done.withLock { $0 = true }
        let peak = try await sampling.value
        sampler.close()

        #expect(peak <= 3)
        #expect(peak >= 2)
        let statuses = registry.statuses()
        #expect(statuses.map(\.name) == ["a", "b"])
        #expect(statuses.map(\.totals.borrows).reduce(0, +) == 96)
        #expect(statuses.allSatisfy { $0.totals.borrows > 0 })
        await registry.shutdown()
    }

    @Test func startsBeforePostgresAndServesOnceItIsUp() async throws {
        let cluster = try await TestPostgres.offThread { try TestCluster.start() }
        do {
            try await TestPostgres.offThread { try cluster.stop() }
            try await servesOnceUp(cluster)
        } catch {
            try? await TestPostgres.offThread { cluster.destroy() }
            throw error
        }
        try await TestPostgres.offThread { cluster.destroy() }
    }

    private func servesOnceUp(_ cluster: TestCluster) async throws {
        var settings = PoolSettings(name: "late", conninfo: cluster.conninfo())
        settings.min = 1
        settings.healthCheckAfter = nil
        settings.connectRetry = ConnectRetrySettings(attempts: 1000, baseDelay: .milliseconds(20), maxDelay: .milliseconds(100))
        let registry = await Runtime.registry([settings])
        // "connecting" lasts only until the first attempt fails, which may come before the first
        // look on a busy machine; "cannot connect" follows it.
        let unready = await Runtime.eventually {
            registry.readiness().first.map { pool in
                !pool.ready && ["connecting", "cannot connect"].contains { (pool.reason ?? "").contains($0) }
            } ?? false
        }
        #expect(unready)
        let waiting = Task { try await registry.borrow("late", Runtime.alice, wait: .seconds(30)) }
        #expect(await Runtime.eventually { ((try? registry.status(pool: "late").totals.connectFailures) ?? 0) >= 2 })
        #expect(try registry.status(pool: "late").lastError != nil)

        try await TestPostgres.offThread { try cluster.startServer() }
        let outcome = try await waiting.value
        let token = try #require(outcome.lease.token)
        let one = try await registry.run(token, Runtime.alice, "SELECT 1")
        #expect(Runtime.int(one) == 1)
        #expect(await Runtime.eventually { registry.readiness() == [PoolReadiness(pool: "late", ready: true, reason: nil)] })
        await registry.shutdown()
    }

    @Test func connectFailureIsReportedRedactedAndANewPasswordHeals() async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase(prefix: "rt")
        let role = "rt_role_\(UInt32.random(in: 0...UInt32.max))"
        try await server.execute("CREATE ROLE \(role) LOGIN PASSWORD 'right-secret-1'")
        var settings = Runtime.settings("p", server, database: database) {
            $0.min = 1
            $0.password = "wrong-secret-2"
            $0.connectRetry = ConnectRetrySettings(attempts: 2, baseDelay: .milliseconds(10), maxDelay: .milliseconds(50))
        }
        settings.conninfo = server.conninfo(database: database, user: role)
        let registry = await Runtime.registry([settings])

        #expect(await Runtime.eventually { (try? registry.status(pool: "p").state) == "degraded" })
        let error = await Runtime.error { try await registry.borrow("p", Runtime.alice, wait: .milliseconds(500)) }
        guard case .connectFailed(let pool, let message) = error else {
            Issue.record("expected connect_failed, got \(String(describing: error))")
            await registry.shutdown()
            return
        }
        #expect(pool == "p" && message.contains("password authentication failed"))
        #expect(!message.contains("wrong-secret-2"))
        let status = try registry.status(pool: "p")
        #expect(status.lastError?.contains("password authentication failed") == true)
        #expect(status.settings.password == nil)
        let readiness = registry.readiness()
        #expect(readiness.first?.ready == false && readiness.first?.reason?.contains("cannot connect") == true)

        // Credential rotation: the next connect uses the new password.
        _ = try await registry.updatePool("p", PoolPatch(password: "right-secret-1", recycle: .graceful))
        #expect(await Runtime.eventually { registry.readiness().first?.ready == true })
        let outcome = try await registry.borrow("p", Runtime.alice)
        #expect(outcome.created)
        await registry.shutdown()
        try await server.execute("DROP DATABASE \(database) WITH (FORCE)")
        try await server.execute("DROP ROLE \(role)")
    }

    @Test func connectRetriesSpanTheBorrowsWaitAndADegradedPoolTriesAgain() async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase(prefix: "rt")
        let role = "rt_full_\(UInt32.random(in: 0...UInt32.max))"
        try await server.execute("CREATE ROLE \(role) LOGIN PASSWORD 'full-secret' CONNECTION LIMIT 1")
        let blocker = try await PGConnection.connect(PGConnectOptions(conninfo: server.conninfo(database: database, user: role), password: "full-secret"))
        var settings = Runtime.settings("p", server, database: database) {
            $0.password = "full-secret"
            $0.connectRetry = ConnectRetrySettings(attempts: 2, baseDelay: .milliseconds(20), maxDelay: .milliseconds(200))
        }
        settings.conninfo = server.conninfo(database: database, user: role)
        let registry = await Runtime.registry([settings])
        // The server is full for this role: the borrow keeps trying for as long as it may wait,
        // and gets the connection that frees up 1.5 s in.
        let began = ContinuousClock.now
        let borrowing = Task { try await registry.borrow("p", Runtime.alice, wait: .seconds(20)) }
        #expect(await Runtime.eventually { (try? registry.status(pool: "p").state) == "degraded" })
        try await Task.sleep(for: .milliseconds(1500))
        blocker.close()
        let outcome = try await borrowing.value
        #expect(outcome.created)
        #expect(ContinuousClock.now - began < .seconds(10))
        #expect(try registry.status(pool: "p").state == "running")
        if let token = outcome.lease.token { try await registry.release(token: token, caller: Runtime.alice) }
        await registry.shutdown()
        try await server.execute("DROP DATABASE \(database) WITH (FORCE)")
        try await server.execute("DROP ROLE \(role)")
    }

    @Test func deletePoolRollsBackAndLeavesNoBackend() async throws {
        try await Runtime.withFixture(configure: { $0.min = 2 }) { registry, server, database in
            try await server.execute("CREATE TABLE t (v int)", database: database)
            let writer = try await registry.token("p", Runtime.alice)
            _ = try await registry.run(writer, Runtime.alice, "BEGIN")
            _ = try await registry.run(writer, Runtime.alice, "INSERT INTO t VALUES (1)")
            let sleeper = try await registry.token("p", Runtime.bob)
            let running = Task { try await registry.run(sleeper, Runtime.bob, "SELECT pg_sleep(30)") }
            // Running on the server, not only sent: a cancel before that is lost (see waitUntilActive).
            #expect(try await server.waitUntilActive(pid: registry.lease(token: sleeper, caller: Runtime.bob).backendPID))

            let clock = ContinuousClock()
            let elapsed = try await clock.measure { try await registry.deletePool("p") }
            #expect(elapsed < .seconds(5))
            // PostgreSQL lists a backend until its process has exited, a moment after the close.
            #expect(try await Runtime.eventually(timeout: .seconds(10)) { try await Runtime.backends(server, database: database).isEmpty })
            let deleted = WardenError.leaseGone(reason: .poolDeleted)
            #expect(await Runtime.error { try await running.value } == deleted)
            #expect(await Runtime.error { try registry.lease(token: writer, caller: Runtime.alice) } == deleted)
            #expect(try await Runtime.count(server, database: database, sql: "SELECT count(*) FROM t") == 0)
            #expect(await Runtime.error { try registry.status(pool: "p") } == .poolNotFound("p"))
            #expect(await Runtime.error { try await registry.deletePool("p") } == .poolNotFound("p"))
            #expect(registry.statuses().isEmpty)

            // The name is free again.
            let again = try await registry.createPool(Runtime.settings("p", server, database: database))
            #expect(again.state == "running" && again.counts.open == 0)
            _ = try await registry.borrow("p", Runtime.alice)
        }
    }

    @Test func shutdownRollsBackAndLeavesNoBackend() async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase(prefix: "rt")
        try await server.execute("CREATE TABLE t (v int)", database: database)
        let registry = await Runtime.registry([
            Runtime.settings("a", server, database: database) { $0.min = 2 },
            Runtime.settings("b", server, database: database) { $0.max = 1 },
        ])
        let writer = try await registry.token("a", Runtime.alice)
        _ = try await registry.run(writer, Runtime.alice, "BEGIN")
        _ = try await registry.run(writer, Runtime.alice, "INSERT INTO t VALUES (1)")
        let sleeper = try await registry.token("b", Runtime.bob)
        let running = Task { try await registry.run(sleeper, Runtime.bob, "SELECT pg_sleep(30)") }
        let waiting = Task { try await registry.borrow("b", Runtime.alice, wait: .seconds(30)) }
        #expect(await Runtime.eventually { (try? registry.status(pool: "b").counts.waiting) == 1 })
        #expect(try await server.waitUntilActive(pid: registry.lease(token: sleeper, caller: Runtime.bob).backendPID))

        let clock = ContinuousClock()
        let elapsed = await clock.measure { await registry.shutdown() }
        #expect(elapsed < .seconds(5))
        #expect(try await Runtime.eventually(timeout: .seconds(10)) { try await Runtime.backends(server, database: database).isEmpty })
        #expect(try await Runtime.count(server, database: database, sql: "SELECT count(*) FROM t") == 0)
        #expect(await Runtime.error { try await running.value } == .leaseGone(reason: .shutdown))
        #expect(await Runtime.error { try await waiting.value } == .shuttingDown)
        #expect(await Runtime.error { try registry.lease(token: writer, caller: Runtime.alice) } == .leaseGone(reason: .shutdown))
        #expect(await Runtime.error { try await registry.borrow("a", Runtime.alice) } == .shuttingDown)
        #expect(await Runtime.error { try await registry.createPool(Runtime.settings("c", server, database: database)) } == .shuttingDown)
        await registry.shutdown()
    }

    @Test func invalidSettingsAndUnknownPoolsAreRefused() async throws {
        try await Runtime.withFixture { registry, server, database in
            var bad = Runtime.settings("q", server, database: database)
            bad.min = 5
            bad.max = 2
            #expect(await Runtime.error { try await registry.createPool(bad) } == .invalidRequest("min (5) must not be greater than max (2)", field: "min"))
            bad = Runtime.settings("bad name", server, database: database)
            guard case .invalidRequest(_, field: "name") = await Runtime.error({ try await registry.createPool(bad) }) else {
                Issue.record("a pool name with a space should be refused")
                return
            }
            #expect(await Runtime.error { try await registry.createPool(Runtime.settings("p", server, database: database)) } == .poolExists("p"))
            let noMax = await Runtime.error { try await registry.updatePool("p", PoolPatch(max: 0)) }
            #expect(noMax == .invalidRequest("max must be at least 1", field: "max"))
            let noTTL = await Runtime.error { try await registry.updatePool("p", PoolPatch(leaseTTL: .zero)) }
            #expect(noTTL == .invalidRequest("lease_ttl_ms must be positive", field: "lease_ttl_ms"))
            // The config file's rule, in its words: max_per_caller within 1...max.
            let perCaller = await Runtime.error { try await registry.updatePool("p", PoolPatch(maxPerCaller: 50)) }
            #expect(perCaller == .invalidRequest("max_per_caller must be between 1 and max (4), got 50", field: "max_per_caller"))
            #expect(await Runtime.error { try await registry.updatePool("nope", PoolPatch(max: 3)) } == .poolNotFound("nope"))
            #expect(await Runtime.error { try registry.pause("nope") } == .poolNotFound("nope"))
            #expect(await Runtime.error { try registry.resume("nope") } == .poolNotFound("nope"))
            #expect(await Runtime.error { try registry.recycle("nope", mode: .graceful, olderThan: nil) } == .poolNotFound("nope"))
            let noBorrowTTL = await Runtime.error { try await registry.borrow(pool: "p", caller: Runtime.alice, ttl: .zero, wait: nil, key: nil) }
            #expect(noBorrowTTL == .invalidRequest("ttl_ms must be positive", field: "ttl_ms"))

            // Turning a setting off, and the patched settings show up in status without secrets.
            let patched = try await registry.updatePool("p", PoolPatch(maxPerCaller: 2, maxLifetime: .some(nil), password: "not-shown"))
            #expect(patched.maxPerCaller == 2 && patched.settings.maxLifetime == nil && patched.settings.password == nil)
            let created = try await registry.createPool(Runtime.settings("q", server, database: database) { $0.min = 1 })
            #expect(created.name == "q")
            // Ready once q's first connect is in: beside busy loops PostgreSQL took up to 4.7 s.
            #expect(await Runtime.eventually(timeout: .seconds(15)) { registry.readiness().allSatisfy(\.ready) })
            #expect(registry.statuses().map(\.name) == ["p", "q"])
        }
    }
}
