import Foundation
import PostgresLibPQ
import Synchronization
import Testing
import TestPostgres

/// Issue 16, item 2: caps hold across replicas, held by PostgreSQL (invariant 10). Real
/// `poolwarden serve` processes, so that one can be killed with SIGKILL.
@Suite("Cluster slots", .serialized)
struct ClusterSlotsTests {
    /// Backends of the test's pools in its database, and advisory locks each replica's
    /// coordination session holds, as PostgreSQL sees them.
    static func backends(_ connection: PGConnection, database: String, pool: String) async throws -> Int {
        let result = try await connection.query(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE $2",
            [database, "poolwarden:\(pool)%"]
        )
        guard case .int(let count)? = result.rows.first?.first else { return 0 }
        return Int(count)
    }

    static func slotsHeld(_ connection: PGConnection, coordination: String, replica: String) async throws -> Int {
        let result = try await connection.query(
            """
            SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.mode = 'ExclusiveLock' AND l.granted AND a.datname = $1 AND a.application_name = $2
            """,
            [coordination, "poolwarden-coordination:\(replica)"]
        )
        guard case .int(let count)? = result.rows.first?.first else { return 0 }
        return Int(count)
    }

    /// A fresh database with one pool `p` of `max` connections, served by `replicas` replicas.
    static func onePool(
        replicas count: Int, prefix: String, max: Int, borrowTimeout: String, coordination: String? = nil
    ) async throws -> (TestServer, String, ClusterReplicas) {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase(prefix: prefix)
        let replicas = try await ClusterReplicas(count: count, server: server, body: """
            pools:
              - { name: p, conninfo: "\(server.conninfo(database: database))", max: \(max), borrow_timeout: \(borrowTimeout) }
            """, coordination: coordination)
        return (server, database, replicas)
    }

    /// A fresh database with pools `p` and `q` of 4 connections each, both counted against a
    /// server budget of `budget`, served by `replicas` replicas.
    static func twoPoolsUnderBudget(
        replicas count: Int, prefix: String, budget: Int
    ) async throws -> (TestServer, String, ClusterReplicas) {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase(prefix: prefix)
        let replicas = try await ClusterReplicas(count: count, server: server, body: """
            servers:
              - { host: \(server.host), port: \(server.port), max_connections: \(budget) }
            pools:
              - { name: p, conninfo: "\(server.conninfo(database: database))", max: 4, borrow_timeout: 3s }
              - { name: q, conninfo: "\(server.conninfo(database: database))", max: 4, borrow_timeout: 3s }
            """)
        return (server, database, replicas)
    }

    static func open(_ status: [String: Any]) -> Int {
        (status["counts"] as? [String: Any])?["open"] as? Int ?? -1
    }

    @Test("under load from three replicas at once, PostgreSQL never sees more backends for a pool than its max, nor for the server than its budget")
    func globalCapUnderLoad() async throws {
        let (server, database, replicas) = try await Self.twoPoolsUnderBudget(replicas: 3, prefix: "cap", budget: 6)
        defer { replicas.stopAll() }
        let sampler = try await server.connect()
        defer { sampler.close() }
        let peaks = Shared((p: 0, q: 0, total: 0, samples: 0))
        let sampling = Task(executorPreference: sampler.executor) {
            while !Task.isCancelled {
                if let p = try? await Self.backends(sampler, database: database, pool: "p"),
                   let q = try? await Self.backends(sampler, database: database, pool: "q") {
                    peaks.withLock { $0 = (max($0.p, p), max($0.q, q), max($0.total, p + q), $0.samples + 1) }
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        let outcomes = Shared([Int: Int]())
        let served = Shared([0, 0, 0])
        let until = ContinuousClock.now + .seconds(4)
        await withTaskGroup(of: Void.self) { group in
            for replica in 0..<3 {
                for worker in 0..<6 {
                    group.addTask {
                        let pool = worker % 2 == 0 ? "p" : "q"
                        while ContinuousClock.now < until {
                            let status = (try? await ServeProcessTests.request(
                                "POST", "\(replicas.url(replica))/v1/pools/\(pool)/query", body: #"{"sql": "SELECT pg_sleep(0.02)"}"#
                            ))?.status ?? 0
                            outcomes.withLock { $0[status, default: 0] += 1 }
                            if status == 200 { served.withLock { $0[replica] += 1 } }
                        }
                    }
                }
            }
        }
        sampling.cancel()
        _ = await sampling.value
        let seen = peaks.withLock { $0 }
        let answers = outcomes.withLock { $0 }
        let perReplica = served.withLock { $0 }
        print("cluster cap under load: peak backends p \(seen.p)/4, q \(seen.q)/4, server \(seen.total)/6 in \(seen.samples) samples; answers \(answers); served per replica \(perReplica)")
        #expect(seen.samples >= 20)
        #expect(seen.p <= 4 && seen.q <= 4, "a pool's max held across replicas")
        #expect(seen.total <= 6, "the server budget held across replicas")
        #expect(seen.total >= 5, "the load filled the budget, so the caps were tested")
        #expect(Set(answers.keys).isSubset(of: [200, 503]), "every borrow was served or told to retry: \(answers)")
        #expect(perReplica.allSatisfy { $0 > 10 }, "every replica served: \(perReplica)")
        // Every lease accounted for: none is left leased or waiting anywhere.
        for replica in 0..<3 {
            for pool in ["p", "q"] {
                let counts = try await replicas.pool(pool, at: replica)["counts"] as? [String: Any]
                #expect(counts?["leased"] as? Int == 0 && counts?["waiting"] as? Int == 0, "\(replicas.names[replica]) \(pool): \(String(describing: counts))")
            }
        }
    }

    @Test("kill -9 of a replica under load: its backends and slots are gone within seconds, the others take its slots, its open transaction is rolled back, its tokens answer 410 replica_lost elsewhere")
    func killedReplica() async throws {
        let (server, database, replicas) = try await Self.onePool(replicas: 3, prefix: "kill", max: 6, borrowTimeout: "3s")
        defer { replicas.stopAll() }
        _ = try await server.execute("CREATE TABLE t (v text)", database: database)
        let observer = try await server.connect()
        defer { observer.close() }
        // Work the victim leaves uncommitted: a lease with an open transaction.
        let borrowed = try await ServeProcessTests.request("POST", "\(replicas.url(0))/v1/pools/p/leases", body: #"{"ttl_ms": 60000}"#)
        let token = try #require(borrowed.json["token"] as? String)
        #expect(token.hasSuffix(".r0"), "the token names its owner")
        for sql in ["BEGIN", "INSERT INTO t VALUES ('uncommitted')"] {
            let ran = try await ServeProcessTests.request("POST", "\(replicas.url(0))/v1/leases/\(token)/query", body: "{\"sql\": \"\(sql)\"}")
            #expect(ran.status == 200, "\(sql): \(ran.json)")
        }
        let stop = Shared(false)
        let load = Task {
            await withTaskGroup(of: Void.self) { group in
                for replica in 0..<3 {
                    for _ in 0..<4 {
                        group.addTask {
                            while !stop.withLock({ $0 }) {
                                _ = try? await ServeProcessTests.request(
                                    "POST", "\(replicas.url(replica))/v1/pools/p/query", body: #"{"sql": "SELECT pg_sleep(0.05)"}"#
                                )
                            }
                        }
                    }
                }
            }
        }
        try await Task.sleep(for: .seconds(1))
        let victim = try await replicas.pool("p", at: 0)
        let pids = ((victim["connections"] as? [[String: Any]]) ?? []).compactMap { $0["backend_pid"] as? Int }
        #expect(!pids.isEmpty)
        let held = try await Self.slotsHeld(observer, coordination: replicas.coordinationDatabase, replica: "r0")
        // Under load its connections come and go (some given back to the others), so the two
        // counts, read apart, may differ by the one in flight.
        #expect(held > 0 && abs(held - pids.count) <= 1, "a slot per connection of the victim: \(held) slots, \(pids.count) connections")
        let killedAt = ContinuousClock.now
        replicas.kill(0)
        var gone: Duration?
        var freed: Duration?
        while ContinuousClock.now - killedAt < .seconds(15), gone == nil || freed == nil {
            let list = "{" + pids.map(String.init).joined(separator: ",") + "}"
            let left = try await observer.query("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])", [list])
            if gone == nil, case .int(0)? = left.rows.first?.first { gone = ContinuousClock.now - killedAt }
            if freed == nil, try await Self.slotsHeld(observer, coordination: replicas.coordinationDatabase, replica: "r0") == 0 {
                freed = ContinuousClock.now - killedAt
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        // The survivors take the freed slots: together they reach the cap under their load.
        var taken: Duration?
        while ContinuousClock.now - killedAt < .seconds(15), taken == nil {
            let opened = try await Self.open(replicas.pool("p", at: 1)) + Self.open(replicas.pool("p", at: 2))
            if opened == 6 { taken = ContinuousClock.now - killedAt }
            try await Task.sleep(for: .milliseconds(50))
        }
        let atOtherReplica = try await ServeProcessTests.request("POST", "\(replicas.url(1))/v1/leases/\(token)/query", body: #"{"sql": "SELECT 1"}"#)
        stop.withLock { $0 = true }
        await load.value
        print("kill -9 of a replica: its \(pids.count) backends gone after \(gone.map { "\($0)" } ?? "never"), its slots free after \(freed.map { "\($0)" } ?? "never"), survivors at the cap after \(taken.map { "\($0)" } ?? "never")")
        #expect(gone != nil && gone! < .seconds(5), "the victim's backends exited")
        #expect(freed != nil && freed! < .seconds(5), "PostgreSQL freed the victim's slots")
        #expect(taken != nil && taken! < .seconds(8), "the survivors took the freed slots")
        let rows = try await server.execute("SELECT count(*) FROM t", database: database)
        #expect(rows.rows.first?.first == .int(0), "the victim's open transaction was not committed")
        #expect(atOtherReplica.status == 410 && atOtherReplica.json["reason"] as? String == "replica_lost", "\(atOtherReplica.status) \(atOtherReplica.json)")
    }

    @Test("a replica whose coordination session is terminated falls back under the slots it holds again; no pool exceeds max once it has")
    func coordinationSessionLost() async throws {
        let (server, database, replicas) = try await Self.onePool(replicas: 2, prefix: "lost", max: 4, borrowTimeout: "5s")
        defer { replicas.stopAll() }
        let observer = try await server.connect()
        defer { observer.close() }
        var tokens: [[String]] = [[], []]
        for replica in 0..<2 {
            for _ in 0..<2 {
                let borrowed = try await ServeProcessTests.request("POST", "\(replicas.url(replica))/v1/pools/p/leases", body: #"{"ttl_ms": 60000}"#)
                tokens[replica].append(try #require(borrowed.json["token"] as? String, "\(borrowed.json)"))
            }
        }
        // r1 wants two more: the pool is full across the cluster, so they wait.
        let waiting = Task {
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<2 {
                    group.addTask {
                        try await ServeProcessTests.request("POST", "\(replicas.url(1))/v1/pools/p/leases", body: #"{"ttl_ms": 60000, "wait_ms": 4000}"#).status
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await Self.slotsHeld(observer, coordination: replicas.coordinationDatabase, replica: "r0") == 2)
        let terminated = try await observer.query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'poolwarden-coordination:r0'",
            [replicas.coordinationDatabase]
        )
        #expect(terminated.rows.count == 1)
        let statuses = try await waiting.value
        try await Task.sleep(for: .milliseconds(500))
        // Settled: each replica keeps no more connections than it holds slots, and the pool no
        // more than its max.
        var total = 0
        for replica in 0..<2 {
            let open = Self.open(try await replicas.pool("p", at: replica))
            let slots = try await Self.slotsHeld(observer, coordination: replicas.coordinationDatabase, replica: replicas.names[replica])
            #expect(open <= slots, "\(replicas.names[replica]) keeps \(open) connections on \(slots) slots")
            total += open
        }
        #expect(total <= 4)
        #expect(try await Self.backends(observer, database: database, pool: "p") <= 4)
        let served = statuses.filter { $0 == 201 }.count
        // Whoever won the freed slots, r0's leases are either still its (slots taken again) or
        // answer 410 slot_lost; never both a lease at r0 and its slot at r1.
        var lostAtR0 = 0
        for token in tokens[0] {
            let reply = try await ServeProcessTests.request("POST", "\(replicas.url(0))/v1/leases/\(token)/query", body: #"{"sql": "SELECT 1"}"#)
            if reply.status == 410 {
                #expect(reply.json["reason"] as? String == "slot_lost", "\(reply.json)")
                lostAtR0 += 1
            } else {
                #expect(reply.status == 200)
            }
        }
        print("coordination session of r0 terminated: r1's waiting borrows served \(served) of 2, r0's leases lost \(lostAtR0) of 2")
        #expect(served == lostAtR0, "r1 got exactly the slots r0 gave up")
        #expect(replicas.logText(0).contains("coordination session"), "r0 logged the loss")
    }

    @Test("without a coordination session a replica is not ready and opens nothing; its borrows wait and answer 503, never 502")
    func noCoordination() async throws {
        let (server, database, replicas) = try await Self.onePool(
            replicas: 1, prefix: "nocoord", max: 2, borrowTimeout: "1s", coordination: "no_such_database_\(UInt32.random(in: 0...UInt32.max))"
        )
        defer { replicas.stopAll() }
        var ready = try await ServeProcessTests.request("GET", "\(replicas.url(0))/readyz")
        for _ in 0..<30 where ready.status == 200 {
            try await Task.sleep(for: .milliseconds(100))
            ready = try await ServeProcessTests.request("GET", "\(replicas.url(0))/readyz")
        }
        #expect(ready.status == 503)
        let reasons = ready.json["reasons"] as? [String] ?? []
        #expect(reasons.contains { $0.hasPrefix("no coordination session with") && $0.contains("does not exist") }, "\(reasons)")
        let borrowed = try await ServeProcessTests.request("POST", "\(replicas.url(0))/v1/pools/p/leases", body: #"{"ttl_ms": 60000}"#)
        #expect(borrowed.status == 503, "\(borrowed.json)")
        let observer = try await server.connect()
        defer { observer.close() }
        #expect(try await Self.backends(observer, database: database, pool: "p") == 0, "nothing was opened without a slot")
        let status = try await replicas.pool("p", at: 0)
        #expect(status["state"] as? String != "degraded", "no slot is not a connect failure")
    }

    @Test("lowering max on every replica brings the cluster under the new cap: slots above it move below or their connections close, leased ones when released")
    func resizeDown() async throws {
        let (server, database, replicas) = try await Self.onePool(replicas: 2, prefix: "shrink", max: 4, borrowTimeout: "2s")
        defer { replicas.stopAll() }
        let observer = try await server.connect()
        defer { observer.close() }
        var tokens: [(Int, String)] = []
        for replica in [0, 1, 0, 1] {
            let borrowed = try await ServeProcessTests.request("POST", "\(replicas.url(replica))/v1/pools/p/leases", body: #"{"ttl_ms": 60000}"#)
            tokens.append((replica, try #require(borrowed.json["token"] as? String, "\(borrowed.json)")))
        }
        // One lease back at each: idle connections now, on slots the resize may find too high.
        for (replica, token) in tokens.prefix(2) {
            #expect(try await ServeProcessTests.request("DELETE", "\(replicas.url(replica))/v1/leases/\(token)").status == 204)
        }
        for replica in 0..<2 {
            let resized = try await ServeProcessTests.request("PATCH", "\(replicas.url(replica))/v1/pools/p", body: #"{"max": 2}"#)
            #expect(resized.status == 200, "\(resized.json)")
        }
        for (replica, token) in tokens.suffix(2) {
            #expect(try await ServeProcessTests.request("DELETE", "\(replicas.url(replica))/v1/leases/\(token)").status == 204)
        }
        var highest: Int64 = .max
        var backends = Int.max
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline, highest >= 2 || backends > 2 {
            try await Task.sleep(for: .milliseconds(100))
            let slots = try await observer.query(
                """
                SELECT coalesce(max(l.objid::int8), -1) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                WHERE l.locktype = 'advisory' AND l.mode = 'ExclusiveLock' AND a.datname = $1
                """,
                [replicas.coordinationDatabase]
            )
            if case .int(let value)? = slots.rows.first?.first { highest = value }
            backends = try await Self.backends(observer, database: database, pool: "p")
        }
        #expect(highest < 2, "every slot held is below the new max: highest \(highest)")
        #expect(backends <= 2, "the cluster keeps at most the new max: \(backends)")
        // And the new cap holds for new borrows across both replicas.
        var held: [String] = []
        for replica in [0, 1, 0] {
            let borrowed = try await ServeProcessTests.request("POST", "\(replicas.url(replica))/v1/pools/p/leases", body: #"{"ttl_ms": 60000, "wait_ms": 500}"#)
            if borrowed.status == 201, let token = borrowed.json["token"] as? String { held.append(token) }
        }
        #expect(held.count == 2, "two leases at most, across the cluster")
    }

    @Test("a server budget spent by the cluster on idle connections of another pool does not starve a pool's borrow: the replica closes one of its own idle ones for it")
    func budgetSpentOnIdle() async throws {
        let (server, database, replicas) = try await Self.twoPoolsUnderBudget(replicas: 2, prefix: "room", budget: 4)
        defer { replicas.stopAll() }
        // Two idle connections of q at each replica: the whole budget, while neither replica is
        // full by its own count (2 of 4).
        for replica in 0..<2 {
            var tokens: [String] = []
            for _ in 0..<2 {
                let borrowed = try await ServeProcessTests.request("POST", "\(replicas.url(replica))/v1/pools/q/leases", body: #"{"ttl_ms": 60000}"#)
                tokens.append(try #require(borrowed.json["token"] as? String, "\(borrowed.json)"))
            }
            for token in tokens {
                #expect(try await ServeProcessTests.request("DELETE", "\(replicas.url(replica))/v1/leases/\(token)").status == 204)
            }
        }
        let started = ContinuousClock.now
        let borrowed = try await ServeProcessTests.request("POST", "\(replicas.url(0))/v1/pools/p/leases", body: #"{"ttl_ms": 60000, "wait_ms": 3000}"#)
        let took = ContinuousClock.now - started
        #expect(borrowed.status == 201, "\(borrowed.json)")
        #expect(took < .seconds(2), "served after \(took); the budget's idle connections would have held it until their idle timeout")
        let observer = try await server.connect()
        defer { observer.close() }
        let total = try await Self.backends(observer, database: database, pool: "p") + Self.backends(observer, database: database, pool: "q")
        #expect(total <= 4, "the budget held: \(total)")
    }
}

/// A value tasks share, behind a lock: a `Mutex` itself cannot be captured by a task.
final class Shared<Value: Sendable>: Sendable {
    private let state: Mutex<Value>

    init(_ value: Value) {
        state = Mutex(value)
    }

    func withLock<T: Sendable>(_ body: (inout sending Value) -> T) -> T {
        state.withLock { body(&$0) }
    }
}
