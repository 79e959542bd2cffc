#if canImport(Glibc)
import Glibc
#endif
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import PoolWardenHTTP
import PoolWardenRuntime
import TestPostgres
import Testing

/// Invariant 3: a lease that ends without COMMIT never commits. For every way a lease can end —
/// release, expiry, immediate recycle, pool delete, in-process shutdown, SIGTERM and `kill -9` of
/// the real binary — an insert made inside the lease's open transaction is absent afterwards. Where
/// the connection lives on, the pool has `max: 1`, so the next lease gets the very same backend and
/// a `COMMIT` there must not commit the earlier insert either.
@Suite("Lost work: a lease that ends without COMMIT never commits")
struct LostWorkTests {
    /// A fresh database with `t (id int)` and a one-connection pool `main` over it.
    static func setUp() async throws -> (TestServer, String, String) {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase(prefix: "lw")
        try await server.execute("CREATE TABLE t (id int)", database: database)
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo(database: database), extra: ["max": "1"]))
        return (server, database, yaml)
    }

    static func rows(_ server: TestServer, _ database: String) async throws -> Int {
        let result = try await server.execute("SELECT count(*) FROM t", database: database)
        if case .int(let count) = result.rows[0][0] { return Int(count) }
        return -1
    }

    /// Borrows, opens a transaction and inserts one row; returns the token and its backend PID.
    static func openTransaction(_ api: APIClient, ttl: Int? = nil) async throws -> (String, Int) {
        let answer = try await api.send(.post, "/v1/pools/main/leases", key: ServiceHarness.appKey, body: ttl.map { #"{"ttl_ms": \#($0)}"# } ?? "{}")
        let token = try #require(answer["token"] as? String, "borrow answered \(answer.status): \(answer.text)")
        let pid = answer["backend_pid"] as? Int ?? -1
        #expect(try await api.query(token, "BEGIN").status == 200)
        #expect(try await api.query(token, "INSERT INTO t VALUES (1)").status == 200)
        let lease = try await api.send(.get, "/v1/leases/\(token)", key: ServiceHarness.appKey)
        #expect(lease["transaction_status"] as? String == "in_transaction")
        return (token, pid)
    }

    /// The next lease of the pool: a COMMIT on it must find no transaction of the previous holder.
    static func commitOnNextLease(_ api: APIClient) async throws {
        let token = try await api.borrow("main")
        let lease = try await api.send(.get, "/v1/leases/\(token)", key: ServiceHarness.appKey)
        #expect(lease["transaction_status"] as? String == "idle")
        #expect(try await api.query(token, "COMMIT").status == 200)
        #expect(try await api.send(.delete, "/v1/leases/\(token)", key: ServiceHarness.appKey).status == 204)
    }

    @Test("release (204) rolls back; the next holder of the same connection commits nothing")
    func release() async throws {
        let (server, database, yaml) = try await Self.setUp()
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let (token, _) = try await Self.openTransaction(api)
            #expect(try await api.send(.delete, "/v1/leases/\(token)", key: ServiceHarness.appKey).status == 204)
            try await Self.commitOnNextLease(api)
            #expect(try await Self.rows(server, database) == 0)
        }
        #expect(try await Self.rows(server, database) == 0)
    }

    @Test("expiry (TTL) rolls back; the token answers 410 expired")
    func expiry() async throws {
        let (server, database, yaml) = try await Self.setUp()
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            // 2 s of idleness: long enough that the calls opening the transaction never pause that
            // long on a loaded machine, short enough for the test.
            let (token, _) = try await Self.openTransaction(api, ttl: 2000)
            // Watch the pool, not the lease: a statement on the lease would keep it alive.
            var expired = 0
            for _ in 0..<100 where expired == 0 {
                try await Task.sleep(for: .milliseconds(100))
                expired = (try await api.send(.get, "/v1/pools/main")["totals"] as? [String: Any])?["expired"] as? Int ?? 0
            }
            #expect(expired == 1)
            let gone = try await api.query(token, "COMMIT")
            #expect(gone.status == 410)
            let reason = gone["reason"] as? String
            #expect(reason == "expired")
            try await Self.commitOnNextLease(api)
            #expect(try await Self.rows(server, database) == 0)
        }
        #expect(try await Self.rows(server, database) == 0)
    }

    @Test("immediate recycle revokes: rolled back, connection closed, token 410 revoked")
    func immediateRecycle() async throws {
        let (server, database, yaml) = try await Self.setUp()
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let (token, pid) = try await Self.openTransaction(api)
            let recycle = try await api.send(.post, "/v1/pools/main/recycle", body: #"{"mode": "immediate"}"#)
            #expect(recycle.status == 200)
            #expect(recycle["revoked"] as? Int == 1)
            let gone = try await api.query(token, "COMMIT")
            #expect(gone.status == 410)
            #expect(gone["reason"] as? String == "revoked")
            #expect(try await Self.rows(server, database) == 0)
            // The revoked backend is gone: the next lease runs on a new one.
            let next = try await api.send(.post, "/v1/pools/main/leases", key: ServiceHarness.appKey, body: "{}")
            #expect(next.status == 201)
            #expect(next["backend_pid"] as? Int != pid)
            if let token = next["token"] as? String {
                #expect(try await api.query(token, "COMMIT").status == 200)
                try await api.send(.delete, "/v1/leases/\(token)", key: ServiceHarness.appKey)
            }
        }
        #expect(try await Self.rows(server, database) == 0)
    }

    @Test("pool delete revokes: rolled back, token 410 pool_deleted, no backend left")
    func poolDelete() async throws {
        let (server, database, yaml) = try await Self.setUp()
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let (token, _) = try await Self.openTransaction(api)
            #expect(try await api.send(.delete, "/v1/pools/main").status == 204)
            #expect(try await server.wardenBackends(database: database) == 0)
            let gone = try await api.query(token, "COMMIT")
            #expect(gone.status == 410 || gone.status == 404, "\(gone.status): \(gone.text)")
            if gone.status == 410 { #expect(gone["reason"] as? String == "pool_deleted") }
            #expect(try await Self.rows(server, database) == 0)
        }
        #expect(try await Self.rows(server, database) == 0)
    }

    @Test("in-process shutdown (the service ends with a lease open) rolls back and closes every backend")
    func inProcessShutdown() async throws {
        let (server, database, yaml) = try await Self.setUp()
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            _ = try await Self.openTransaction(api)
            #expect(try await server.wardenBackends(database: database) == 1)
        }
        #expect(try await server.wardenBackends(database: database) == 0)
        #expect(try await Self.rows(server, database) == 0)
    }

    @Test("SIGTERM of the real binary with a lease open: exit 0, rolled back, no backend left")
    func sigterm() async throws {
        try await crash(signal: SIGTERM)
    }

    @Test("kill -9 of the real binary with a lease open: no backend left within seconds, nothing committed")
    func kill9() async throws {
        try await crash(signal: SIGKILL)
    }

    func crash(signal: Int32) async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase(prefix: "lw")
        try await server.execute("CREATE TABLE t (id int)", database: database)
        let service = try await WardenProcess.start(yaml: { port in
            ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo(database: database), extra: ["min": "2", "max": "3"]))
                .replacing(#/port: \d+ \}/#, with: "port: \(port) }")
        })
        defer { service.killIfRunning() }
        let base = service.base
        let lease = try await WardenProcess.request("POST", base + "/v1/pools/main/leases", key: ServiceHarness.appKey, body: "{}")
        let token = try #require(lease.json["token"] as? String, "borrow: \(lease.status) \(lease.text)")
        for sql in ["BEGIN", "INSERT INTO t VALUES (1)"] {
            let answer = try await WardenProcess.request("POST", base + "/v1/leases/\(token)/query", key: ServiceHarness.appKey, body: #"{"sql": "\#(sql)"}"#)
            #expect(answer.status == 200, "\(sql): \(answer.text)")
        }
        // min: 2, so an idle backend is open beside the leased one once its connect is done.
        #expect(try await server.wardenBackends(database: database, atLeast: 2) >= 2, "the second connection of min: 2 never opened")

        let status = try await service.stop(signal: signal)
        if signal == SIGKILL {
            #expect(status & 0x7f == SIGKILL, "killed by SIGKILL")
        } else {
            #expect(status & 0x7f == 0 && (status >> 8) & 0xff == 0, "exit status \(status)")
        }
        // PostgreSQL notices the closed sockets: every PoolWarden backend is gone within seconds.
        var left = try await server.wardenBackends(database: database)
        let deadline = ContinuousClock.now + .seconds(5)
        while left > 0 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            left = try await server.wardenBackends(database: database)
        }
        #expect(left == 0, "PoolWarden backends left 5 s after the service died")
        let any = try await server.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", [database])
        #expect(any.rows == [[.int(0)]], "a backend of the database is left")
        #expect(try await LostWorkTests.rows(server, database) == 0)
        #expect(!service.output.contains(token))
        #expect(!service.output.contains(ServiceHarness.appKey))
    }
}

/// The real `poolwarden serve` binary, started with a config file and stopped by a signal.
final class WardenProcess: @unchecked Sendable {
    let pid: pid_t
    let port: Int
    let directory: URL
    let logPath: String
    private var exited = false

    var base: String { "http://127.0.0.1:\(port)" }
    var output: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    private init(pid: pid_t, port: Int, directory: URL, logPath: String) {
        self.pid = pid
        self.port = port
        self.directory = directory
        self.logPath = logPath
    }

    /// Writes `yaml(port)` to a file and starts the binary on it with the harness's keys in its
    /// environment; waits until `/healthz` answers (readiness is the caller's business).
    static func start(yaml: (Int) -> String, environment extra: [String: String] = [:], waitForHealth: Bool = true) async throws -> WardenProcess {
        let port = try TestCluster.freePort()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pw-rel-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = directory.appendingPathComponent("poolwarden.yaml").path
        try yaml(port).write(toFile: config, atomically: true, encoding: .utf8)
        let log = directory.appendingPathComponent("log").path
        var arguments: [String] = []
        for (name, value) in ServiceHarness.environment.merging(extra, uniquingKeysWith: { $1 }).sorted(by: { $0.key < $1.key }) {
            arguments.append("\(name)=\(value)")
        }
        arguments += [ServeProcessTests.binary, "serve", "--config", config]
        let pid = try TestCluster.spawn("/usr/bin/env", arguments, outputPath: log)
        let process = WardenProcess(pid: pid, port: port, directory: directory, logPath: log)
        if waitForHealth {
            var healthy = false
            for _ in 0..<150 where !healthy {
                try await Task.sleep(for: .milliseconds(100))
                healthy = (try? await request("GET", process.base + "/healthz"))?.status == 200
            }
            if !healthy {
                process.killIfRunning()
                throw HarnessError("the service did not come up: \(process.output)")
            }
        }
        return process
    }

    /// Sends `signal` and reaps the process; returns its wait status.
    func stop(signal: Int32) async throws -> Int32 {
        kill(pid, signal)
        let pid = self.pid
        let status = try await TestPostgres.offThread { () -> Int32 in
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            return status
        }
        exited = true
        return status
    }

    func killIfRunning() {
        if !exited {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            exited = true
        }
        try? FileManager.default.removeItem(at: directory)
    }

    struct Reply: @unchecked Sendable {
        var status: Int
        var text: String
        var headers: [String: String]
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:] }
    }

    static func request(_ method: String, _ url: String, key: String? = nil, body: String? = nil, timeout: TimeInterval = 10) async throws -> Reply {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        request.timeoutInterval = timeout
        if let key { request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization") }
        if let body {
            request.httpBody = Data(body.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.tests.data(for: request)
        let http = response as? HTTPURLResponse
        var headers: [String: String] = [:]
        for (name, value) in http?.allHeaderFields ?? [:] {
            if let name = name as? String, let value = value as? String { headers[name.lowercased()] = value }
        }
        return Reply(status: http?.statusCode ?? 0, text: String(decoding: data, as: UTF8.self), headers: headers)
    }
}
