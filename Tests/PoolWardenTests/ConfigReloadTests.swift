#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import PoolWardenHTTP
import PoolWardenRuntime
import TestPostgres
import Testing

/// Issue 14, item 4: the config file is read again and its difference applied without dropping a
/// lease (`POST /v1/reload` here; SIGHUP and `poolwarden reload` run the same reloader).
@Suite("Reload without restart")
struct ConfigReloadTests {
    @Test("a service built from a config in memory answers 409 reload_unavailable; a client gets 403")
    func unavailableWithoutFile() async throws {
        let server = try await TestPostgres.server()
        try await ServiceHarness.run(yaml: ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo()))) { api, _ in
            let answer = try await api.send(.post, "/v1/reload")
            #expect(answer.status == 409, "\(answer.text)")
            #expect(answer.code == "reload_unavailable")
            #expect(answer.contentType?.hasPrefix("application/problem+json") == true)
            #expect(try await api.send(.post, "/v1/reload", key: ServiceHarness.appKey).status == 403)
            #expect(try await api.send(.post, "/v1/reload", key: nil).status == 401)
        }
    }

    @Test("pools: new ones start, removed ones drain (their leases revoked), changed ones take the file's settings and lose their drift; API pools stay")
    func poolsAddedChangedRemoved() async throws {
        let server = try await TestPostgres.server()
        try await ReloadableConfig.run({ $0.yaml(pools: [
            ServiceHarness.pool("keep", conninfo: server.conninfo(), extra: ["max": "2"]),
            ServiceHarness.pool("gone", conninfo: server.conninfo(), extra: ["max": "2"]),
        ]) }) { api, file in
            let doomed = try await api.borrow("gone")
            #expect(try await api.query(doomed, "BEGIN").status == 200)
            #expect(try await api.send(.patch, "/v1/pools/keep", body: #"{"max": 5}"#).status == 200)
            #expect(try await api.send(.post, "/v1/pools", body: #"{"name": "adhoc", "conninfo": "\#(server.conninfo())", "max": 1}"#).status == 201)
            #expect(try await api.send(.get, "/v1/pools/keep")["drift"] as? [String] == ["max"])

            try file.write(file.yaml(pools: [
                ServiceHarness.pool("keep", conninfo: server.conninfo(), extra: ["max": "3"]),
                ServiceHarness.pool("fresh", conninfo: server.conninfo(), extra: ["max": "2"]),
            ]))
            let (answer, changes) = try await api.reload()
            #expect(answer.status == 200, "\(answer.text)")
            #expect(changes == ["pool_added fresh", "pool_changed keep [\"max\"]", "pool_removed gone"], "\(answer.text)")
            #expect(answer["restart_required"] as? [String] == [])

            let gone = try await api.query(doomed, "SELECT 1")
            #expect(gone.status == 410 && gone["reason"] as? String == "pool_deleted", "\(gone.text)")
            #expect(try await api.send(.get, "/v1/pools/gone").status == 404)
            let keep = try await api.send(.get, "/v1/pools/keep")
            #expect(keep.json.limit("max") == 3)
            #expect(keep["source"] as? String == "config")
            #expect(keep["drift"] as? [String] == [], "the file is the source of truth again: \(keep.text)")
            let adhoc = try await api.send(.get, "/v1/pools/adhoc")
            #expect(adhoc.status == 200 && adhoc["source"] as? String == "api", "a pool the file does not name stays: \(adhoc.text)")
            let fresh = try await api.borrow("fresh")
            #expect(try await api.query(fresh, "SELECT 1").status == 200)
            #expect(try await api.send(.get, "/v1/pools/fresh")["source"] as? String == "config")

            let config = try await api.send(.get, "/v1/config").text
            #expect(config.contains(#"name: "fresh""#) && config.contains(#"name: "adhoc""#) && !config.contains(#"name: "gone""#), "\(config)")

            // The same file again: nothing to do.
            let again = try await api.reload()
            #expect(again.answer.status == 200 && again.changes.isEmpty, "\(again.answer.text)")
        }
    }

    @Test("a limit raised while a lease is held and a borrow waits: the waiter is served, the lease goes on; lowered again, no lease is cut")
    func resizeWhileLeasesHeldAndBorrowsWait() async throws {
        let server = try await TestPostgres.server()
        try await ReloadableConfig.run({ $0.yaml(pools: [ServiceHarness.pool("main", conninfo: server.conninfo(), extra: ["max": "1"])]) }) { api, file in
            let held = try await api.borrow("main")
            let pid = try await api.query(held, "SELECT pg_backend_pid()")["rows"] as? [[Int]]
            #expect(try await api.query(held, "BEGIN").status == 200)
            let waiter = Task { try await api.send(.post, "/v1/pools/main/leases", key: ServiceHarness.otherKey, body: #"{"wait_ms": 30000}"#) }
            let waiting = try await api.waitForPool("main") { $0.count("waiting") == 1 }
            #expect(waiting.count("waiting") == 1, "the second borrow never waited")

            try file.write(file.yaml(pools: [ServiceHarness.pool("main", conninfo: server.conninfo(), extra: ["max": "2"])]))
            let (answer, changes) = try await api.reload()
            #expect(answer.status == 200 && changes == ["pool_changed main [\"max\"]"], "\(answer.text)")
            let served = try await waiter.value
            #expect(served.status == 201, "the waiting borrow was not served after the resize: \(served.text)")
            let second = try #require(served["token"] as? String)
            #expect(try await api.query(held, "SELECT pg_backend_pid()")["rows"] as? [[Int]] == pid, "the held lease moved or broke")
            #expect(try await api.query(held, "COMMIT").status == 200)

            // Lowered below what is leased: both leases go on, the surplus closes at release.
            try file.write(file.yaml(pools: [ServiceHarness.pool("main", conninfo: server.conninfo(), extra: ["max": "1"])]))
            #expect(try await api.reload().changes == ["pool_changed main [\"max\"]"])
            #expect(try await api.query(held, "SELECT 1").status == 200)
            #expect(try await api.query(second, "SELECT 1", key: ServiceHarness.otherKey).status == 200)
            #expect(try await api.send(.delete, "/v1/leases/\(second)", key: ServiceHarness.otherKey).status == 204)
            let shrunk = try await api.waitForPool("main") { $0.count("open") == 1 }
            #expect(shrunk.count("open") == 1 && shrunk.limit("max") == 1, "\(shrunk)")
            #expect(try await api.send(.delete, "/v1/leases/\(held)", key: ServiceHarness.appKey).status == 204)
        }
    }

    @Test("a changed conninfo or password recycles gracefully: idle connections now, a leased one at its release, the lease unharmed")
    func credentialChangeRecyclesGracefully() async throws {
        let server = try await TestPostgres.server()
        let password = server.password ?? "unused-pw-71"
        let environment = ServiceHarness.environment.merging(["T_PW_A": password, "T_PW_B": password]) { $1 }
        @Sendable func pool(_ conninfo: String, _ variable: String) -> String {
            ServiceHarness.pool("main", conninfo: conninfo, extra: ["min": "2", "max": "3", "password_env": variable])
        }
        try await ReloadableConfig.run(environment: environment, { $0.yaml(pools: [pool(server.conninfo(), "T_PW_A")]) }) { api, file in
            let held = try await api.borrow("main")
            let heldPID = try #require((try await api.query(held, "SELECT pg_backend_pid()")["rows"] as? [[Int]])?.first?.first)
            let opened = try await api.waitForPool("main") { $0.count("idle") >= 1 }
            #expect(opened.count("idle") >= 1, "\(opened)")

            try file.write(file.yaml(pools: [pool(server.conninfo() + " connect_timeout=10", "T_PW_A")]))
            let (answer, changes) = try await api.reload()
            #expect(answer.status == 200 && changes == ["pool_changed main [\"conninfo\"]"], "\(answer.text)")
            let detail = (answer["changes"] as? [[String: Any]])?.first?["detail"] as? String ?? ""
            #expect(detail.contains("recycled gracefully"), "\(detail)")
            let after = try await api.waitForPool("main") { $0.total("recycled") >= 1 }
            #expect(after.total("recycled") >= 1, "the idle connection was not recycled: \(after)")
            #expect(try await api.query(held, "SELECT pg_backend_pid()")["rows"] as? [[Int]] == [[heldPID]], "the lease was cut")
            #expect(try await api.send(.delete, "/v1/leases/\(held)", key: ServiceHarness.appKey).status == 204)
            // Closed at release, not reused.
            let deadline = ContinuousClock.now + .seconds(20)
            var alive = true
            while alive && ContinuousClock.now < deadline {
                alive = try await server.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", ["\(heldPID)"]).rows == [[.int(1)]]
                if alive { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(!alive, "the recycled connection stayed open after its release")

            // A password from another variable counts as a changed password.
            let recycled = after.total("recycled")
            try file.write(file.yaml(pools: [pool(server.conninfo() + " connect_timeout=10", "T_PW_B")]))
            let second = try await api.reload()
            #expect(second.changes == ["pool_changed main [\"password_env\"]"], "\(second.answer.text)")
            let final = try await api.waitForPool("main") { $0.total("recycled") > recycled }
            #expect(final.total("recycled") > recycled, "\(final)")
            #expect(!second.answer.text.contains(password), "a password in the reload answer")
        }
    }

    @Test("callers, keys and grants change for the next request; a caller that lost its grant keeps its lease until it releases it")
    func callersChangeForNextRequest() async throws {
        let server = try await TestPostgres.server()
        let lateKey = "late-key-0123456789abcdef"
        let environment = ServiceHarness.environment.merging(["T_LATE_KEY": lateKey]) { $1 }
        let pools = [
            ServiceHarness.pool("main", conninfo: server.conninfo(), extra: ["max": "2"]),
            ServiceHarness.pool("side", conninfo: server.conninfo(), extra: ["max": "2"]),
        ]
        try await ReloadableConfig.run(environment: environment, { $0.yaml(pools: pools) }) { api, file in
            let lease = try await api.borrow("main")
            #expect(try await api.query(lease, "BEGIN").status == 200)
            try file.write(file.yaml(pools: pools, callers: """
                  - { name: ops, role: admin, key_env: T_ADMIN_KEY }
                  - { name: app, role: client, key_env: T_APP_KEY, pools: [side] }
                  - { name: late, role: client, key_env: T_LATE_KEY }
                """))
            let (answer, changes) = try await api.reload()
            #expect(answer.status == 200, "\(answer.text)")
            #expect(changes == ["caller_changed app [\"pools\"]", "caller_added late", "caller_removed other"], "\(answer.text)")

            #expect(try await api.send(.get, "/v1/pools", key: ServiceHarness.otherKey).status == 401, "a removed caller's key still works")
            #expect(try await api.send(.get, "/v1/pools", key: lateKey).status == 200, "a new caller's key does not work")
            let refused = try await api.send(.post, "/v1/pools/main/leases", key: ServiceHarness.appKey, body: "{}")
            #expect(refused.status == 403, "\(refused.text)")
            #expect(try await api.query(lease, "SELECT 1").status == 200, "the lease held before the reload was cut")
            #expect(try await api.query(lease, "COMMIT").status == 200)
            #expect(try await api.send(.delete, "/v1/leases/\(lease)", key: ServiceHarness.appKey).status == 204)
            #expect(try await api.borrow("side").hasPrefix("pwl_"))
            #expect(!answer.text.contains(lateKey))
            let config = try await api.send(.get, "/v1/config").text
            #expect(config.contains("key_env: T_LATE_KEY") && !config.contains("T_OTHER_KEY"), "GET /v1/config kept the old callers: \(config)")
        }
    }

    @Test("an invalid file changes nothing and names every problem by field, a missing file and a budget move included")
    func invalidFileChangesNothing() async throws {
        let server = try await TestPostgres.server()
        try await ReloadableConfig.run({ $0.yaml(pools: [ServiceHarness.pool("main", conninfo: server.conninfo(), extra: ["max": "2"])]) }) { api, file in
            try file.write(file.yaml(
                pools: [
                    ServiceHarness.pool("main", conninfo: server.conninfo(), extra: ["max": "4"]),
                    ServiceHarness.pool("more", conninfo: server.conninfo(), extra: ["max": "0", "lease_ttl": "5x"]),
                ],
                callers: "  - { name: ops, role: root, key_env: T_ADMIN_KEY }"
            ))
            let (answer, changes) = try await api.reload()
            #expect(answer.status == 422 && answer.code == "invalid_config", "\(answer.text)")
            #expect(changes.isEmpty)
            let fields = APIClient.problemFields(answer)
            for field in ["callers[0].role", "pools[1].max", "pools[1].lease_ttl"] {
                #expect(fields.contains(field), "\(field) not named: \(answer.text)")
            }
            #expect(try await api.send(.get, "/v1/pools/main").json.limit("max") == 2, "a valid part of an invalid file was applied")
            #expect(try await api.send(.get, "/v1/pools/more").status == 404)
            #expect(try await api.send(.get, "/v1/pools", key: ServiceHarness.appKey).status == 200, "the callers changed")

            // A running pool cannot move into a budget added under it; the callers of that file,
            // valid on their own, are not registered either.
            try file.write(file.yaml(
                pools: [ServiceHarness.pool("main", conninfo: server.conninfo(), extra: ["max": "4"])],
                servers: "servers:\n  - { host: \(server.host), port: \(server.port), max_connections: 3 }",
                callers: ReloadableConfig.callers + "\n  - { name: ghost-reloaded, role: client, key_sha256: \(String(repeating: "ab", count: 32)) }"
            ))
            let moved = try await api.reload()
            #expect(moved.answer.status == 422 && APIClient.problemFields(moved.answer) == ["servers[0]"], "\(moved.answer.text)")
            #expect((try await api.send(.get, "/v1/servers")["servers"] as? [[String: Any]])?.isEmpty == true)
            #expect(try await api.send(.get, "/v1/pools/main").json.limit("max") == 2)
            #expect(!(try await api.send(.get, "/metrics", key: nil).text.contains("ghost-reloaded")), "a refused caller's counters were registered")

            try FileManager.default.removeItem(atPath: file.path)
            let missing = try await api.reload()
            #expect(missing.answer.status == 422 && (missing.answer["detail"] as? String ?? "").contains("no such file"), "\(missing.answer.text)")
        }
    }

    @Test("a servers: budget change applies at once: raised, it serves a borrow waiting on the server")
    func serverBudgetChange() async throws {
        let server = try await TestPostgres.server()
        let pools = [ServiceHarness.pool("main", conninfo: server.conninfo(), extra: ["max": "3"])]
        @Sendable func servers(_ max: Int) -> String { "servers:\n  - { host: \(server.host), port: \(server.port), max_connections: \(max) }" }
        try await ReloadableConfig.run({ $0.yaml(pools: pools, servers: servers(1)) }) { api, file in
            let held = try await api.borrow("main")
            let waiter = Task { try await api.send(.post, "/v1/pools/main/leases", key: ServiceHarness.otherKey, body: #"{"wait_ms": 30000}"#) }
            let waiting = try await api.waitForPool("main") { $0.count("waiting") == 1 }
            #expect(waiting.count("waiting") == 1)

            try file.write(file.yaml(pools: pools, servers: servers(2)))
            let (answer, changes) = try await api.reload()
            #expect(answer.status == 200 && changes == ["server_changed \(server.host):\(server.port) [\"max_connections\"]"], "\(answer.text)")
            let served = try await waiter.value
            #expect(served.status == 201, "the borrow waiting on the server budget was not served: \(served.text)")
            let budgets = try await api.send(.get, "/v1/servers")["servers"] as? [[String: Any]]
            #expect(budgets?.first?["max"] as? Int == 2)
            #expect(try await api.query(held, "SELECT 1").status == 200)
        }
    }

    @Test("a budget comes and goes with the pools added and removed beside it")
    func budgetAddedAndRemovedWithItsPools() async throws {
        let server = try await TestPostgres.server()
        let label = "\(server.host):\(server.port)"
        try await ReloadableConfig.run({ $0.yaml(pools: [ServiceHarness.pool("before", conninfo: server.conninfo())]) }) { api, file in
            try file.write(file.yaml(
                pools: [ServiceHarness.pool("capped", conninfo: server.conninfo())],
                servers: "servers:\n  - { host: \(server.host), port: \(server.port), max_connections: 4 }"
            ))
            let added = try await api.reload()
            #expect(added.changes == ["server_added \(label)", "pool_added capped", "pool_removed before"], "\(added.answer.text)")
            let budgets = try await api.send(.get, "/v1/servers")["servers"] as? [[String: Any]] ?? []
            #expect(budgets.count == 1 && budgets.first?["max"] as? Int == 4 && budgets.first?["pools"] as? [String] == ["capped"], "\(budgets)")
            #expect(try await api.send(.get, "/v1/pools/capped").json["settings"].flatMap { ($0 as? [String: Any])?["server"] as? String } == label)

            try file.write(file.yaml(pools: [ServiceHarness.pool("after", conninfo: server.conninfo())]))
            let removed = try await api.reload()
            #expect(removed.changes == ["server_removed \(label)", "pool_added after", "pool_removed capped"], "\(removed.answer.text)")
            #expect((try await api.send(.get, "/v1/servers")["servers"] as? [[String: Any]])?.isEmpty == true)
        }
    }

    /// Refuses any file with a pool named `refused`; otherwise reports each commit as a change.
    final class RecordingParticipant: ReloadParticipant {
        let commits = Mutex(0)

        func prepare(_ new: WardenConfig, running: WardenConfig) async throws(ConfigError) -> ReloadCommit {
            if let index = new.pools.firstIndex(where: { $0.name == "refused" }) {
                throw ConfigError(path: "pools[\(index)].name", message: "refused by the test participant")
            }
            return { [self] in
                let count = commits.withLock { count in
                    count += 1
                    return count
                }
                return [ReloadChange(kind: .other, name: "test", detail: "commit \(count)")]
            }
        }
    }

    @Test("a participant that refuses the file refuses the whole reload, nothing changed and nothing committed; accepted, it commits once after the pools")
    func participantsPrepareThenCommit() async throws {
        let server = try await TestPostgres.server()
        let participant = RecordingParticipant()
        try await ReloadableConfig.run(participants: [participant], { $0.yaml(pools: [ServiceHarness.pool("main", conninfo: server.conninfo(), extra: ["max": "2"])]) }) { api, file in
            try file.write(file.yaml(pools: [
                ServiceHarness.pool("main", conninfo: server.conninfo(), extra: ["max": "3"]),
                ServiceHarness.pool("refused", conninfo: server.conninfo()),
            ]))
            let refused = try await api.reload()
            #expect(refused.answer.status == 422 && APIClient.problemFields(refused.answer) == ["pools[1].name"], "\(refused.answer.text)")
            #expect(participant.commits.withLock { $0 } == 0)
            #expect(try await api.send(.get, "/v1/pools/main").json.limit("max") == 2)
            #expect(try await api.send(.get, "/v1/pools/refused").status == 404)

            try file.write(file.yaml(pools: [ServiceHarness.pool("main", conninfo: server.conninfo(), extra: ["max": "3"])]))
            let accepted = try await api.reload()
            #expect(accepted.changes == ["pool_changed main [\"max\"]", "other test"], "\(accepted.answer.text)")
            #expect(participant.commits.withLock { $0 } == 1)
        }
    }

    @Test("reloads asked at once run one after the other: the pool the file adds is added once")
    func concurrentReloadsSerialized() async throws {
        let server = try await TestPostgres.server()
        try await ReloadableConfig.run({ $0.yaml(pools: [ServiceHarness.pool("main", conninfo: server.conninfo())]) }) { api, file in
            try file.write(file.yaml(pools: [
                ServiceHarness.pool("main", conninfo: server.conninfo()),
                ServiceHarness.pool("added", conninfo: server.conninfo()),
            ]))
            let results = try await withThrowingTaskGroup(of: (Int, [String], [String]).self) { group in
                for _ in 0..<6 {
                    group.addTask {
                        let (answer, changes) = try await api.reload()
                        return (answer.status, changes, answer["failures"] as? [String] ?? [])
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.allSatisfy { $0.0 == 200 && $0.2.isEmpty }, "\(results)")
            #expect(results.flatMap(\.1) == ["pool_added added"], "\(results)")
        }
    }

    @Test("serve reloads on SIGHUP, logs what changed, and survives a SIGHUP with an invalid file")
    func hangUpReloads() async throws {
        let server = try await TestPostgres.server()
        let file = try ReloadableConfig()
        defer { file.remove() }
        func yaml(_ pools: [String]) -> String {
            "listen: { host: 127.0.0.1, port: \(file.port) }\npools:\n" + pools.joined(separator: "\n") + "\n"
        }
        try file.write(yaml([ServiceHarness.pool("first", conninfo: server.conninfo())]))
        let log = file.directory.appendingPathComponent("log").path
        let pid = try TestCluster.spawn(ServeProcessTests.binary, ["serve", "--config", file.path], outputPath: log)
        defer { kill(pid, SIGKILL); var status: Int32 = 0; waitpid(pid, &status, 0) }
        let base = "http://127.0.0.1:\(file.port)"
        func status(_ pool: String) async -> Int { (try? await ServeProcessTests.request("GET", base + "/v1/pools/\(pool)"))?.status ?? 0 }
        func awaitStatus(_ pool: String, _ wanted: Int) async throws -> Bool {
            let deadline = ContinuousClock.now + .seconds(30)
            while await status(pool) != wanted {
                if ContinuousClock.now > deadline { return false }
                try await Task.sleep(for: .milliseconds(100))
            }
            return true
        }
        try #require(try await awaitStatus("first", 200), "the service did not come up: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")

        try file.write(yaml([ServiceHarness.pool("second", conninfo: server.conninfo())]))
        kill(pid, SIGHUP)
        #expect(try await awaitStatus("second", 200), "SIGHUP did not add the pool")
        #expect(try await awaitStatus("first", 404), "SIGHUP did not remove the pool")

        try file.write(yaml([ServiceHarness.pool("third", conninfo: server.conninfo(), extra: ["max": "0"])]))
        kill(pid, SIGHUP)
        let deadline = ContinuousClock.now + .seconds(30)
        var output = ""
        while !output.contains("reload refused") && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        }
        #expect(output.contains("reload refused") && output.contains("pools[0].max"), "\(output)")
        #expect(output.contains("reload: pool second added"), "\(output)")
        #expect(await status("second") == 200, "an invalid file changed the pools, or the process died")
    }
}
