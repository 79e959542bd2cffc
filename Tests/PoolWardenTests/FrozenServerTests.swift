#if canImport(Glibc)
import Glibc
#endif
import Foundation
import PoolCore
@testable import PoolWardenHTTP
@testable import PoolWardenRuntime
@testable import PostgresLibPQ
import TestPostgres
import Testing

/// Invariant 8: no wait outlasts its bound when PostgreSQL stops answering. A private cluster's
/// postmaster and backends are stopped with SIGSTOP (its kernel still accepts connections and
/// cancel requests, and nothing answers them) and always continued afterwards.
@Suite("A frozen server holds nobody past a deadline", .serialized)
struct FrozenServerTests {
    /// The cluster's postmaster and every process it forked.
    static func processes(of cluster: TestCluster) -> [pid_t] {
        guard let text = try? String(contentsOfFile: cluster.dataDirectory + "/postmaster.pid", encoding: .utf8),
            let postmaster = text.split(separator: "\n").first.flatMap({ pid_t($0) })
        else { return [] }
        var found = [postmaster]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8) else { continue }
            // "pid (comm) state ppid ...": comm may hold spaces, so read after its closing parenthesis.
            guard let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, pid_t(fields[1]) == postmaster { found.append(pid) }
        }
        return found
    }

    /// Runs `body` with the cluster frozen; continues it however `body` ends.
    static func frozen<T>(_ cluster: TestCluster, _ body: () async throws -> T) async rethrows -> T {
        let stopped = processes(of: cluster)
        for pid in stopped { kill(pid, SIGSTOP) }
        defer { for pid in stopped { kill(pid, SIGCONT) } }
        return try await body()
    }

    static func registry(_ cluster: TestCluster, _ configure: (inout PoolSettings) -> Void = { _ in }) async -> PoolRegistry {
        var settings = PoolSettings(name: "p", conninfo: cluster.conninfo())
        settings.min = 0
        settings.max = 4
        settings.healthCheckAfter = nil
        settings.statementTimeout = .seconds(10)
        settings.borrowTimeout = .seconds(10)
        settings.connectRetry = ConnectRetrySettings(attempts: 2, baseDelay: .milliseconds(20), maxDelay: .milliseconds(50))
        configure(&settings)
        return await Runtime.registry([settings])
    }

    static func elapsed(since start: ContinuousClock.Instant) -> Duration { ContinuousClock.now - start }

    @Test("statements answer by their timeout plus the documented grace; releases at once; threads do not pile up")
    func statementsAndReleasesKeepTheirBounds() async throws {
        let cluster = try await FaultTests.privateCluster()
        defer { cluster.destroy() }
        let registry = await Self.registry(cluster)
        let tokens = [try await registry.token("p", Runtime.alice), try await registry.token("p", Runtime.alice), try await registry.token("p", Runtime.alice)]
        let idle = tokens[2]
        _ = try await registry.run(idle, Runtime.alice, "SELECT 1")
        try await Self.frozen(cluster) {
            let began = ContinuousClock.now
            async let first = Runtime.error { try await registry.run(tokens[0], Runtime.alice, "SELECT 1", timeout: .milliseconds(1000)) }
            async let second = Runtime.error { try await registry.run(tokens[1], Runtime.alice, "SELECT 1", timeout: .milliseconds(3000)) }
            let released = ContinuousClock.now
            try await registry.release(token: idle, caller: Runtime.alice)
            let releaseTook = Self.elapsed(since: released)
            #expect(releaseTook < .seconds(1), "a release waited on the frozen server")
            let (one, three) = await (first, second)
            let total = Self.elapsed(since: began)
            print("FrozenServerTests: frozen server: release answered in \(releaseTook); statements with timeout 1 s and 3 s answered \(one?.code ?? "200") and \(three?.code ?? "200"), the last \(total) in")
            // The longest: 3 s of timeout, 3 s of grace for the cancel, 2 s for the backend to leave.
            #expect(total < .seconds(3 + 3 + 2 + 2), "statements held their callers \(total)")
            #expect(one != nil && three != nil, "a frozen server answered")
            #expect(PGCanceller.threadsInFlight <= PGCanceller.maxInFlight, "cancel threads pile up: \(PGCanceller.threadsInFlight)")
        }
        // Once the server answers again, the slots of the abandoned connections are freed.
        let settled = await Runtime.eventually(timeout: .seconds(20)) {
            (try? registry.status(pool: "p").counts.open).map { $0 <= 1 } ?? false
        }
        #expect(settled, "\(String(describing: try? registry.status(pool: "p").connections))")
        let next = try await registry.queryOnce(pool: "p", caller: Runtime.bob, sql: "SELECT 1", parameters: [], timeout: nil)
        #expect(Runtime.int(next) == 1)
        let began = ContinuousClock.now
        await registry.shutdown()
        #expect(Self.elapsed(since: began) < .seconds(12))
    }

    @Test("many hung cancels: each caller is let go by its deadline, the threads stay bounded, and cancels to other servers still go out")
    func hungCancelsAreBounded() async throws {
        let cluster = try await FaultTests.privateCluster()
        defer { cluster.destroy() }
        var connections: [PGConnection] = []
        for _ in 0..<40 { connections.append(try await PGConnection.connect(PGConnectOptions(conninfo: cluster.conninfo()))) }
        let healthy = try await TestPostgres.server()
        let sleeper = try await PGConnection.connect(PGConnectOptions(conninfo: healthy.conninfo()))
        defer { sleeper.close() }
        try await Self.frozen(cluster) { () async throws in
            let began = ContinuousClock.now
            await withTaskGroup(of: Void.self) { group in
                for connection in connections {
                    group.addTask { _ = await connection.cancel(timeout: .milliseconds(500)) }
                }
            }
            let hung = PGCanceller.threadsPerServer
            print("FrozenServerTests: 40 cancels to a frozen server let go in \(Self.elapsed(since: began)), cancel threads \(hung)")
            #expect(Self.elapsed(since: began) < .seconds(3), "cancels held their callers \(Self.elapsed(since: began))")
            #expect(hung.values.allSatisfy { $0 <= PGCanceller.maxPerServer }, "\(hung)")
            #expect(PGCanceller.threadsInFlight <= PGCanceller.maxInFlight)
            // The frozen server's hung requests hold its own budget only: a statement on another
            // server is still cancelled (57014), not left to run until the hang-up.
            async let slow: Result<PGQueryResult, any Error> = { () async -> Result<PGQueryResult, any Error> in
                do { return .success(try await sleeper.query("SELECT pg_sleep(30)")) } catch { return .failure(error) }
            }()
            #expect(try await healthy.waitUntilActive(pid: sleeper.backendPID))
            // A refused cancel answers at once; the long timeout only spares a loaded machine a false alarm.
            #expect(await sleeper.cancel(timeout: .seconds(15)), "a cancel to a healthy server was not sent while another server hung")
            guard case .failure(let error as PGError) = await slow else {
                Issue.record("the statement was not cancelled")
                return
            }
            #expect(error.sqlState == "57014", "\(error)")
        }
        for connection in connections { connection.close() }
        let drained = await Runtime.eventually(timeout: .seconds(10)) { PGCanceller.threadsInFlight == 0 }
        #expect(drained, "cancel threads did not end once the server answered")
    }

    @Test("pool delete and shutdown finish within their bounds while the server is frozen")
    func deleteAndShutdownKeepTheirBounds() async throws {
        let cluster = try await FaultTests.privateCluster()
        defer { cluster.destroy() }
        let registry = await Self.registry(cluster) { $0.min = 2 }
        let token = try await registry.token("p", Runtime.alice)
        let busy = Task { await Runtime.error { try await registry.run(token, Runtime.alice, "SELECT pg_sleep(60)") } }
        try await Task.sleep(for: .milliseconds(200))
        try await Self.frozen(cluster) {
            let began = ContinuousClock.now
            let closing = try await registry.deletePool("p")
            #expect(Self.elapsed(since: began) < PoolRegistry.closeWait + .seconds(2), "delete took \(Self.elapsed(since: began))")
            // Answered 202 over HTTP: the backends cannot have left a frozen server.
            #expect(closing > 0)
            print("FrozenServerTests: frozen server: pool delete answered in \(Self.elapsed(since: began)) with \(closing) connections still closing")
            let stopped = ContinuousClock.now
            await registry.shutdown()
            #expect(Self.elapsed(since: stopped) < PoolRegistry.closeWait + .seconds(2), "shutdown took \(Self.elapsed(since: stopped))")
            #expect(await busy.value != nil)
        }
        // Continued, every backend of the pool leaves: the hang-up is seen, or the goodbye read.
        let gone = try await Runtime.eventually(timeout: .seconds(15)) {
            let result = try await PGConnection.connect(PGConnectOptions(conninfo: cluster.conninfo())).query(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'poolwarden%'"
            )
            return result.rows.first?.first == .int(0)
        }
        #expect(gone, "backends of the deleted pool stayed after the server came back")
    }

    @Test("SIGTERM while the server is frozen: the process exits within shutdown_grace plus 10 s")
    func shutdownOfTheProcessKeepsItsBound() async throws {
        let cluster = try await FaultTests.privateCluster()
        defer { cluster.destroy() }
        let service = try await WardenProcess.start(yaml: { port in
            ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: cluster.conninfo(), extra: ["min": "2", "max": "3"]))
                .replacing(#/port: \d+ \}/#, with: "port: \(port) }") + "\nshutdown_grace: 1s\n"
        })
        defer { service.killIfRunning() }
        let lease = try await WardenProcess.request("POST", service.base + "/v1/pools/main/leases", key: ServiceHarness.appKey, body: "{}")
        let token = try #require(lease.json["token"] as? String, "borrow: \(lease.status) \(lease.text)")
        let inFlight = Task {
            try? await WardenProcess.request("POST", service.base + "/v1/leases/\(token)/query", key: ServiceHarness.appKey, body: #"{"sql": "SELECT pg_sleep(60)"}"#)
        }
        try await Task.sleep(for: .milliseconds(300))
        let status = try await Self.frozen(cluster) { () async throws -> Int32 in
            let began = ContinuousClock.now
            let status = try await service.stop(signal: SIGTERM)
            let took = Self.elapsed(since: began)
            print("FrozenServerTests: frozen server: SIGTERM to exit \(took) (shutdown_grace 1 s)")
            #expect(took < .seconds(1 + 10 + 3), "the service took \(took) to exit")
            return status
        }
        inFlight.cancel()
        let exitedCleanly = status & 0x7f == 0 && (status >> 8) & 0xff == 0
        #expect(exitedCleanly || service.output.contains("shutdown"), "exit status \(status) with nothing logged:\n\(service.output)")
    }
}
