#if canImport(Glibc)
import Glibc
#endif
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import PoolWardenHTTP
import PoolWardenRuntime
import PostgresLibPQ
import Synchronization
import TestPostgres
import Testing

/// Faults around the service: PostgreSQL restarted under load or down at start (private clusters,
/// so the shared one is untouched), a leased backend terminated, a statement past its timeout, an
/// HTTP client that hangs up while its statement runs.
@Suite("Faults: the service survives what happens around it")
struct FaultTests {
    static func privateCluster() async throws -> TestCluster {
        try await TestPostgres.offThread { try TestCluster.start() }
    }

    static func fastRetry(_ extra: [String: String] = [:]) -> [String: String] {
        ["connect_retry": "{ attempts: 3, base_delay: 20ms, max_delay: 100ms }", "health_check_after": "0"].merging(extra) { $1 }
    }

    @Test("PostgreSQL down when the service starts: /readyz 503 with the reason, then 200 once it is up; borrows work")
    func downAtStart() async throws {
        let cluster = try await Self.privateCluster()
        defer { cluster.destroy() }
        try await TestPostgres.offThread { try cluster.stop() }
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: cluster.conninfo(), extra: Self.fastRetry(["min": "1", "max": "2"])))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let down = try await api.send(.get, "/readyz", key: nil)
            #expect(down.status == 503)
            #expect(down["status"] as? String == "not_ready")
            #expect((down["reasons"] as? [String])?.first?.contains("main") == true, "\(down.text)")
            let borrow = try await api.send(.post, "/v1/pools/main/leases", key: ServiceHarness.appKey, body: #"{"wait_ms": 500}"#)
            #expect(borrow.status == 502 || borrow.status == 503, "\(borrow.status): \(borrow.text)")
            try await TestPostgres.offThread { try cluster.startServer() }
            var ready = 0
            let deadline = ContinuousClock.now + .seconds(15)
            while ready != 200 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
                ready = try await api.send(.get, "/readyz", key: nil).status
            }
            #expect(ready == 200, "not ready 15 s after PostgreSQL came up")
            let answer = try await api.send(.post, "/v1/pools/main/query", key: ServiceHarness.appKey, body: #"{"sql": "SELECT 1"}"#)
            #expect(answer.status == 200, "\(answer.text)")
        }
    }

    @Test("PostgreSQL stopped with no traffic at all: /readyz turns 503 within seconds, and 200 again once it is back")
    func outageSeenWithoutTraffic() async throws {
        let cluster = try await Self.privateCluster()
        defer { cluster.destroy() }
        let yaml = ServiceHarness.yaml(pools:
            ServiceHarness.pool("main", conninfo: cluster.conninfo(), extra: Self.fastRetry(["min": "2", "max": "2", "health_check_after": "10m"]))
            + "\n" + ServiceHarness.pool("lazy", conninfo: cluster.conninfo(), extra: ["min": "0", "max": "1"]))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            func readiness(_ wanted: Int, within limit: Duration) async throws -> (status: Int, took: Duration, text: String) {
                let began = ContinuousClock.now
                var answer = try await api.send(.get, "/readyz", key: nil)
                while answer.status != wanted, ContinuousClock.now - began < limit {
                    try await Task.sleep(for: .milliseconds(100))
                    answer = try await api.send(.get, "/readyz", key: nil)
                }
                return (answer.status, ContinuousClock.now - began, answer.text)
            }
            let up = try await readiness(200, within: .seconds(15))
            #expect(up.status == 200, "\(up.text)")
            // A min-0 pool with nothing open says so rather than claim the server works.
            #expect(up.text.contains("untested"), "\(up.text)")
            // Only /readyz is asked from here on: nothing borrows, nothing touches the pool.
            try await TestPostgres.offThread { try cluster.stop() }
            let down = try await readiness(503, within: .seconds(10))
            print("FaultTests: PostgreSQL stopped, no traffic: /readyz 503 after \(down.took)")
            #expect(down.status == 503, "still ready 10 s after PostgreSQL stopped: \(down.text)")
            #expect(down.text.contains("main"), "\(down.text)")
            let status = try await api.send(.get, "/v1/pools/main")
            #expect(status["state"] as? String == "degraded", "\(status.text)")
            try await TestPostgres.offThread { try cluster.startServer() }
            let back = try await readiness(200, within: .seconds(15))
            #expect(back.status == 200, "not ready 15 s after PostgreSQL came back: \(back.text)")
            let answer = try await api.send(.post, "/v1/pools/main/query", key: ServiceHarness.appKey, body: #"{"sql": "SELECT 1"}"#)
            #expect(answer.status == 200, "\(answer.text)")
        }
    }

    @Test("PostgreSQL restarted mid-load: leases on dead connections answer 410 connection_lost, no waiter stuck, the service recovers")
    func restartMidLoad() async throws {
        let cluster = try await Self.privateCluster()
        defer { cluster.destroy() }
        let connect = { () async throws -> PGConnection in try await PGConnection.connect(PGConnectOptions(conninfo: cluster.conninfo())) }
        let setup = try await connect()
        _ = try await setup.query("CREATE TABLE t (id int)")
        setup.close()
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: cluster.conninfo(), extra: Self.fastRetry(["min": "2", "max": "4", "borrow_timeout": "1s", "lease_ttl": "30s", "statement_timeout": "3s"])))
        let ledger = Ledger()
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            // Two held leases, one inside a transaction with an insert. Their borrows may wait for
            // the first connects longer than the pool's 1 s on a machine busy with the whole suite.
            let held = try await api.borrow("main", key: ServiceHarness.otherKey, body: #"{"wait_ms": 15000}"#)
            #expect(try await api.query(held, "BEGIN", key: ServiceHarness.otherKey).status == 200)
            #expect(try await api.query(held, "INSERT INTO t VALUES (1)", key: ServiceHarness.otherKey).status == 200)
            let idleHeld = try await api.borrow("main", key: ServiceHarness.otherKey, body: #"{"wait_ms": 15000}"#)
            let http = LoadHTTP(base: "http://127.0.0.1:\(api.client.port ?? 0)")
            // The load goes on for 3 s after PostgreSQL is back, however long its restart takes
            // on a machine busy with the rest of the suite.
            let stop = Deadline(ContinuousClock.now + .seconds(60))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<12 {
                    group.addTask {
                        while ContinuousClock.now < stop.instant {
                            let started = ContinuousClock.now
                            let answer = try await http.send("POST", "/v1/pools/main/query", key: ServiceHarness.appKey, body: #"{"sql": "SELECT pg_sleep(0.02)"}"#)
                            // No waiter stuck: every request ends within the service's own bounds, its
                            // 1 s wait plus the 3 s statement timeout and the 5 s grace after it. (The
                            // former 6 s mixed in this client's own latency, which beside busy loops
                            // reached 6.2 s; a stuck waiter shows as no answer in 15 s either way.)
                            #expect(ContinuousClock.now - started < .seconds(9), "a request took \(ContinuousClock.now - started)")
                            ledger.status(answer.status, answer.text)
                            if answer.status != 200 { try await Task.sleep(for: .milliseconds(50)) }
                        }
                    }
                }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(1000))
                    try await TestPostgres.offThread { try cluster.stop(immediate: true) }
                    try await Task.sleep(for: .milliseconds(700))
                    try await TestPostgres.offThread { try cluster.startServer() }
                    stop.instant = ContinuousClock.now + .seconds(3)
                }
                try await group.waitForAll()
            }
            for token in [held, idleHeld] {
                let gone = try await api.query(token, "SELECT 1", key: ServiceHarness.otherKey)
                #expect(gone.status == 410, "\(gone.status): \(gone.text)")
                #expect(gone.code == "lease_gone")
                #expect(gone["reason"] as? String == "connection_lost")
                #expect(try await api.query(token, "SELECT 1", key: ServiceHarness.otherKey).status == 410, "the token stays dead")
            }
            // Recovered by itself: queries succeed, and nothing is leased or waiting.
            var recovered = false
            for _ in 0..<50 where !recovered {
                recovered = try await api.send(.post, "/v1/pools/main/query", key: ServiceHarness.appKey, body: #"{"sql": "SELECT 1"}"#).status == 200
                if !recovered { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(recovered)
            let counts = try await api.send(.get, "/v1/pools/main")["counts"] as? [String: Any] ?? [:]
            #expect(counts["leased"] as? Int == 0)
            #expect(counts["waiting"] as? Int == 0)
            #expect((counts["open"] as? Int ?? 99) <= 4)
            var ready = 0
            for _ in 0..<50 where ready != 200 {
                ready = try await api.send(.get, "/readyz", key: nil).status
                if ready != 200 { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(ready == 200)
        }
        let seen = ledger.statuses
        #expect(seen[200, default: 0] > 0)
        for (status, count) in seen where status != 200 {
            // During the outage: the designed 502 (connect failed), 503 (exhausted), 429 (a wait that
            // ended at the client's max_per_caller: twelve single shots share one key), 410
            // (connection lost mid-statement).
            #expect([410, 429, 502, 503].contains(status), "\(count) × \(status): \(ledger.samples(status))")
        }
        let check = try await connect()
        defer { check.close() }
        #expect(try await check.query("SELECT count(*) FROM t").rows == [[.int(0)]])
    }

    @Test("PostgreSQL restarted while borrows wait: every waiter is answered within its wait, none is left queued, leases work again")
    func waitersAcrossRestart() async throws {
        let cluster = try await Self.privateCluster()
        defer { cluster.destroy() }
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: cluster.conninfo(), extra: Self.fastRetry(["min": "2", "max": "4"])))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            var holders: [String] = []
            for _ in 0..<4 { holders.append(try await api.borrow("main", key: ServiceHarness.otherKey, body: #"{"wait_ms": 15000}"#)) }
            let http = LoadHTTP(base: "http://127.0.0.1:\(api.client.port ?? 0)")
            // A child task, on this test's own thread: each waiter's query and release must not
            // wait for the global executor, or a loaded machine holds the last four past their wait.
            let began = ContinuousClock.now
            var timeline: [String] = []
            func mark(_ step: String) { timeline.append("\(step) +\(ContinuousClock.now - began)") }
            async let waiters = withTaskGroup(of: (Int, Duration, String).self) { group in
                // Four each for two callers, each within its max_per_caller (= max, 4).
                for index in 0..<8 {
                    let key = index % 2 == 0 ? ServiceHarness.appKey : ServiceHarness.adminKey
                    group.addTask {
                        let started = ContinuousClock.now
                        let answer = await http.call("POST", "/v1/pools/main/leases", key: key, body: #"{"wait_ms": 12000}"#)
                        let elapsed = ContinuousClock.now - started
                        if let token = answer.json["token"] as? String {
                            let query = await http.call("POST", "/v1/leases/\(token)/query", key: key, body: #"{"sql": "SELECT 1"}"#)
                            #expect(query.status == 200, "a lease granted after the restart works: \(query.text)")
                            _ = await http.call("DELETE", "/v1/leases/\(token)", key: key)
                        }
                        return (answer.status, elapsed, answer.text)
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            var waiting = 0
            for _ in 0..<100 where waiting < 8 {
                try await Task.sleep(for: .milliseconds(50))
                waiting = (try await api.send(.get, "/v1/pools/main")["counts"] as? [String: Any])?["waiting"] as? Int ?? 0
            }
            #expect(waiting == 8, "the borrows queue behind the four holders")
            mark("queued")
            try await TestPostgres.offThread { try cluster.stop(immediate: true) }
            mark("stopped")
            try await Task.sleep(for: .milliseconds(300))
            try await TestPostgres.offThread { try cluster.startServer() }
            mark("started")
            // A lease on a connection that died answers so; giving the others back frees their
            // slots too, and the waiters get new connections to the restarted server.
            let dead = try await api.query(holders[0], "SELECT 1", key: ServiceHarness.otherKey)
            #expect(dead.status == 410 && dead["reason"] as? String == "connection_lost", "\(dead.status) \(dead.text)")
            for holder in holders.dropFirst() {
                let released = try await api.send(.delete, "/v1/leases/\(holder)", key: ServiceHarness.otherKey)
                #expect(released.status == 204, "\(released.text)")
            }
            mark("released")
            let answers = await waiters
            // The waits began with the test's clock: the restart's own duration counts against them.
            print("FaultTests: restart while borrows wait: \(timeline.joined(separator: ", ")); answers after \(answers.map { "\($0.0) \($0.1)" })")
            #expect(answers.count == 8)
            for (status, elapsed, text) in answers {
                #expect(status == 201, "every waiter is served once the server is back: \(status) \(text)")
                // 12 s: on a 2-core machine running the whole suite, reconnecting can take seconds.
                #expect(elapsed < .seconds(13), "answered within its 12 s wait: \(elapsed)")
            }
            let counts = try await api.send(.get, "/v1/pools/main")["counts"] as? [String: Any] ?? [:]
            #expect(counts["waiting"] as? Int == 0)
            #expect(counts["leased"] as? Int == 0)
            #expect(try await api.send(.post, "/v1/pools/main/query", key: ServiceHarness.appKey, body: #"{"sql": "SELECT 1"}"#).status == 200)
        }
    }

    @Test("pg_terminate_backend of a leased connection: 410 connection_lost, the insert is gone, the pool replaces it")
    func terminatedBackend() async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase(prefix: "ft")
        try await server.execute("CREATE TABLE t (id int)", database: database)
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo(database: database), extra: ["max": "1"]))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let borrow = try await api.send(.post, "/v1/pools/main/leases", key: ServiceHarness.appKey, body: "{}")
            let token = try #require(borrow["token"] as? String)
            let pid = try #require(borrow["backend_pid"] as? Int)
            try await api.query(token, "BEGIN")
            try await api.query(token, "INSERT INTO t VALUES (1)")
            let killed = try await server.execute("SELECT pg_terminate_backend($1::int)", ["\(pid)"])
            #expect(killed.rows == [[.bool(true)]])
            let gone = try await api.query(token, "COMMIT")
            #expect(gone.status == 410, "\(gone.status): \(gone.text)")
            #expect(gone["reason"] as? String == "connection_lost")
            #expect(try await api.send(.delete, "/v1/leases/\(token)", key: ServiceHarness.appKey).status == 410)
            let next = try await api.send(.post, "/v1/pools/main/leases", key: ServiceHarness.appKey, body: #"{"wait_ms": 3000}"#)
            #expect(next.status == 201, "\(next.text)")
            #expect(next["backend_pid"] as? Int != pid)
            if let second = next["token"] as? String {
                #expect(try await api.query(second, "SELECT count(*) FROM t").status == 200)
                #expect(try await api.send(.delete, "/v1/leases/\(second)", key: ServiceHarness.appKey).status == 204)
            }
        }
        #expect(try await server.execute("SELECT count(*) FROM t", database: database).rows == [[.int(0)]])
    }

    @Test("a statement past its timeout is cancelled on the server (422 statement_timeout); the lease goes on")
    func statementTimeout() async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase(prefix: "ft")
        try await server.execute("CREATE TABLE t (id int)", database: database)
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo(database: database), extra: ["max": "1", "statement_timeout": "300ms", "max_statement_timeout": "1s"]))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let borrow = try await api.send(.post, "/v1/pools/main/leases", key: ServiceHarness.appKey, body: "{}")
            let token = try #require(borrow["token"] as? String)
            let pid = try #require(borrow["backend_pid"] as? Int)
            try await api.query(token, "BEGIN")
            try await api.query(token, "INSERT INTO t VALUES (1)")
            let started = ContinuousClock.now
            let slow = try await api.query(token, "SELECT pg_sleep(30)")
            // 57014 below proves the cancel ended it. The service's bound is the timeout plus the 5 s
            // it gives a cancel before it closes the connection (which would answer 410, not 422);
            // the cancel is sent by the request's own task, which in this process shares the
            // cooperative pool with every other test.
            #expect(ContinuousClock.now - started < .milliseconds(300) + .seconds(5))
            #expect(slow.status == 422)
            #expect(slow.code == "statement_timeout")
            #expect(slow["sqlstate"] as? String == "57014", "\(slow.text)")
            // The backend is no longer running it: the cancel reached the server.
            let activity = try await server.execute("SELECT state, query FROM pg_stat_activity WHERE pid = $1::int", ["\(pid)"])
            #expect(activity.rows.first?.first != .string("active"), "the backend still runs: \(activity.rows)")
            // The failed transaction is the caller's to roll back, as in psql; then the lease goes on.
            #expect(try await api.query(token, "SELECT 1").status == 422)
            #expect(try await api.query(token, "ROLLBACK").status == 200)
            // A longer per-request timeout is honoured up to max_statement_timeout, refused beyond it.
            let longer = try await api.send(.post, "/v1/leases/\(token)/query", key: ServiceHarness.appKey, body: #"{"sql": "SELECT pg_sleep(0.5)", "timeout_ms": 800}"#)
            #expect(longer.status == 200, "\(longer.text)")
            let capped = ContinuousClock.now
            let beyond = try await api.send(.post, "/v1/leases/\(token)/query", key: ServiceHarness.appKey, body: #"{"sql": "SELECT pg_sleep(30)", "timeout_ms": 60000}"#)
            #expect(beyond.code == "statement_timeout", "\(beyond.status) \(beyond.text)")
            #expect(ContinuousClock.now - capped < .seconds(1) + .seconds(5), "timeout_ms above max_statement_timeout is lowered to it")
            // Single shot too, and its lease is released afterwards.
            try await api.send(.delete, "/v1/leases/\(token)", key: ServiceHarness.appKey)
            let shot = try await api.send(.post, "/v1/pools/main/query", key: ServiceHarness.appKey, body: #"{"sql": "SELECT pg_sleep(30)"}"#)
            #expect(shot.code == "statement_timeout")
            #expect(shot["sqlstate"] as? String == "57014")
            let counts = try await api.send(.get, "/v1/pools/main")["counts"] as? [String: Any]
            #expect(counts?["leased"] as? Int == 0)
        }
        #expect(try await server.execute("SELECT count(*) FROM t", database: database).rows == [[.int(0)]])
    }

    @Test("an HTTP client that hangs up while its statement runs: the lease is not left busy, nothing leaks")
    func disconnectWhileQueryRuns() async throws {
        let server = try await TestPostgres.server()
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo(), extra: ["max": "1"]))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let port = try #require(api.client.port)
            let lease = try await api.send(.post, "/v1/pools/main/leases", key: ServiceHarness.appKey, body: "{}")
            let token = try #require(lease["token"] as? String)
            let pid = try #require(lease["backend_pid"] as? Int)
            try await api.query(token, "BEGIN")
            // Long enough to be seen running by a poll that, on a loaded machine, opens a
            // connection per look (0.8 s was missed once).
            let body = #"{"sql": "SELECT pg_sleep(3)"}"#
            let socket = try RawHTTPClient(port: port)
            socket.send("POST /v1/leases/\(token)/query HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(ServiceHarness.appKey)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            // The hang-up comes once the statement runs, not after a fixed pause: on a loaded
            // machine the request could still be unread, and would start after the checks below.
            #expect(try await server.waitUntilActive(pid: Int32(pid)), "the statement never started")
            socket.close()
            // The lease answers again once the statement is over (or cancelled): not busy forever.
            // What is tested is that it happens, not how soon a loaded machine gets there: the
            // bound is far beyond the statement's 3 s, and the time taken is printed.
            let hungUp = ContinuousClock.now
            var status = 0
            let deadline = ContinuousClock.now + .seconds(30)
            while status != 200 && ContinuousClock.now < deadline {
                status = try await api.query(token, "SELECT 1").status
                if status != 200 {
                    #expect(status == 409, "\(status)")
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            #expect(status == 200)
            print("FaultTests: the lease answered again \(ContinuousClock.now - hungUp) after its client hung up")
            let rollback = try await api.query(token, "ROLLBACK")
            #expect(rollback.status == 200, "\(rollback.status) \(rollback.text)")
            #expect(try await api.send(.delete, "/v1/leases/\(token)", key: ServiceHarness.appKey).status == 204)

            // Single shot: its lease is released even though nobody reads the answer. The hang-up
            // comes once the shot holds the connection (its borrow counted), not after a fixed
            // pause: on a loaded machine the pause could end before the shot borrowed, and the
            // count below would see 0 leased before the shot took the connection at all.
            func borrows() async throws -> Int {
                (try await api.send(.get, "/v1/pools/main")["totals"] as? [String: Any])?["borrows"] as? Int ?? -1
            }
            let before = try await borrows()
            let shot = try RawHTTPClient(port: port)
            shot.send("POST /v1/pools/main/query HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(ServiceHarness.appKey)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            var borrowed = false
            for _ in 0..<500 where !borrowed {
                borrowed = try await borrows() > before
                if !borrowed { try await Task.sleep(for: .milliseconds(10)) }
            }
            #expect(borrowed, "the single shot never got its connection")
            shot.close()
            let closed = ContinuousClock.now
            var leased = -1
            let until = ContinuousClock.now + .seconds(30)
            while leased != 0 && ContinuousClock.now < until {
                try await Task.sleep(for: .milliseconds(100))
                leased = (try await api.send(.get, "/v1/pools/main")["counts"] as? [String: Any])?["leased"] as? Int ?? -1
            }
            #expect(leased == 0, "the single shot's lease is still out 30 s after its client hung up")
            print("FaultTests: the single shot's lease ended \(ContinuousClock.now - closed) after its client hung up")
            let again = try await api.send(.post, "/v1/pools/main/query", key: ServiceHarness.appKey, body: #"{"sql": "SELECT 1"}"#)
            #expect(again.status == 200)
        }
    }
}

/// A deadline one task may move while others read it.
final class Deadline: Sendable {
    private let value: Mutex<ContinuousClock.Instant>
    init(_ instant: ContinuousClock.Instant) { value = Mutex(instant) }
    var instant: ContinuousClock.Instant {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}

/// What the clients saw: counts, status codes, each token's fate.
final class Ledger: Sendable {
    enum Fate: Sendable { case released, abandoned, revoked }
    private struct State {
        var counts: [String: Int] = [:]
        var statuses: [Int: Int] = [:]
        var samples: [Int: String] = [:]
        var fates: [String: Fate] = [:]
    }
    private let state = Mutex(State())

    func add(_ name: String) { state.withLock { $0.counts[name, default: 0] += 1 } }
    func count(_ name: String) -> Int { state.withLock { $0.counts[name, default: 0] } }
    func status(_ status: Int, _ text: String) {
        state.withLock {
            $0.statuses[status, default: 0] += 1
            if $0.samples[status] == nil { $0.samples[status] = String(text.prefix(300)) }
        }
    }
    func fate(_ token: String, _ fate: Fate) { state.withLock { $0.fates[token] = fate } }
    var statuses: [Int: Int] { state.withLock { $0.statuses } }
    func samples(_ status: Int) -> String { state.withLock { $0.samples[status] ?? "" } }
    var tokens: [String: Fate] { state.withLock { $0.fates } }
}

/// HTTP for many concurrent clients: its own URLSession, without a per-host connection limit.
struct LoadHTTP: Sendable {
    let base: String
    let session: URLSession

    init(base: String) {
        self.base = base
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = 1000
        configuration.timeoutIntervalForRequest = 15
        session = URLSession(configuration: configuration)
    }

    struct Reply: @unchecked Sendable {
        var status: Int
        var text: String
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:] }
    }

    func send(_ method: String, _ path: String, key: String, body: String? = nil) async throws -> Reply {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = method
        request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization")
        if let body {
            request.httpBody = Data(body.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let started = ContinuousClock.now
        let data: Data, response: URLResponse
        do { (data, response) = try await session.data(for: request) } catch {
            Issue.record("\(method) \(path.prefix(30)) \(body ?? "") failed after \(ContinuousClock.now - started): \(error)")
            return Reply(status: 0, text: "")
        }
        return Reply(status: (response as? HTTPURLResponse)?.statusCode ?? 0, text: String(decoding: data, as: UTF8.self))
    }
}

extension LoadHTTP {
    /// `send`, whose failures (recorded as issues there) come back as status 0.
    func call(_ method: String, _ path: String, key: String, body: String? = nil) async -> Reply {
        (try? await send(method, path, key: key, body: body)) ?? Reply(status: 0, text: "")
    }
}
