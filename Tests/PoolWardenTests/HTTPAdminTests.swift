import Foundation
import PoolWardenHTTP
import PoolWardenRuntime
import TestPostgres
import Testing

@Suite("HTTP: operators' routes")
struct HTTPAdminTests {
    @Test("probes, metrics and the served contract need no key")
    func openRoutes() async throws {
        let server = try await TestPostgres.server()
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo(), extra: ["min": "1"]))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let health = try await api.send(.get, "/healthz", key: nil)
            #expect(health.status == 200)
            #expect(health["version"] as? String == poolWardenVersion)
            #expect(health.headers[.server] == "PoolWarden/\(poolWardenVersion)")
            var ready = try await api.send(.get, "/readyz", key: nil)
            for _ in 0..<50 where ready.status != 200 {
                try await Task.sleep(for: .milliseconds(100))
                ready = try await api.send(.get, "/readyz", key: nil)
            }
            #expect(ready.status == 200)
            _ = try await api.send(.post, "/v1/pools/main/query", key: ServiceHarness.appKey, body: #"{"sql": "SELECT 1"}"#)
            let metrics = try await api.send(.get, "/metrics", key: nil)
            #expect(metrics.status == 200)
            #expect(metrics.text.contains("poolwarden_"))
            #expect(metrics.text.contains("pool=\"main\""))
            let spec = try await api.send(.get, "/openapi.yaml", key: nil)
            #expect(spec.status == 200)
            #expect(spec.text.hasPrefix("openapi: 3.1"))
        }
    }

    @Test("create, read, patch, pause, resume and delete a pool at runtime")
    func poolLifecycle() async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase()
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo()))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let create = #"{"name": "extra", "conninfo": "\#(server.conninfo(database: database))", "min": 1, "max": 3, "max_waiting": 7, "password": "not-shown-secret"}"#
            let created = try await api.send(.post, "/v1/pools", body: create)
            #expect(created.status == 201)
            #expect(!created.text.contains("not-shown-secret"))
            #expect((created["settings"] as? [String: Any])?["max_waiting"] as? Int == 7)
            #expect(try await api.send(.post, "/v1/pools", body: create).code == "pool_exists")
            let listed = try await api.send(.get, "/v1/pools")
            #expect((listed["pools"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["extra", "main"])

            let patched = try await api.send(.patch, "/v1/pools/extra", body: #"{"max": 5, "max_per_caller": 2, "lease_ttl_ms": 90000}"#)
            #expect(patched.status == 200)
            #expect((patched["limits"] as? [String: Any])?["max"] as? Int == 5)
            #expect((patched["settings"] as? [String: Any])?["lease_ttl_ms"] as? Int == 90000)
            let queue = try await api.send(.patch, "/v1/pools/extra", body: #"{"max_waiting": 12}"#)
            #expect((queue["settings"] as? [String: Any])?["max_waiting"] as? Int == 12)
            let noQueue = try await api.send(.patch, "/v1/pools/extra", body: #"{"max_waiting": 0}"#)
            #expect(noQueue.status == 400 && noQueue["field"] as? String == "max_waiting", "\(noQueue.text)")
            #expect(noQueue["detail"] as? String == "max_waiting must be between 1 and 100000, got 0")

            #expect(try await api.send(.post, "/v1/pools/extra/pause")["state"] as? String == "paused")
            // Its connection is idle: the borrow's wait ends as paused, not as exhausted.
            let waiting = try await api.send(.post, "/v1/pools/extra/leases", key: ServiceHarness.appKey, body: #"{"wait_ms": 200}"#)
            #expect(waiting.status == 503)
            #expect(waiting.code == "pool_paused")
            #expect(waiting.headers[.retryAfter] != nil)
            #expect((waiting["detail"] as? String)?.contains("paused by an operator") == true, "\(waiting.text)")
            #expect(try await api.send(.post, "/v1/pools/extra/resume")["state"] as? String == "running")
            let resumed = try await api.send(.post, "/v1/pools/extra/leases", key: ServiceHarness.appKey, body: #"{"wait_ms": 5000}"#)
            #expect(resumed.status == 201)
            try await api.send(.delete, "/v1/leases/\(resumed["token"] as? String ?? "")", key: ServiceHarness.appKey)
            let token = try await api.borrow("extra")
            try await api.query(token, "BEGIN")
            #expect(try await api.send(.delete, "/v1/pools/extra").status == 204)
            #expect(try await api.query(token, "SELECT 1").status == 410)
            #expect(try await api.send(.get, "/v1/pools/extra").code == "pool_not_found")
        }
        #expect(try await server.wardenBackends(database: database) == 0)
    }

    @Test("a pool's reset is set at creation and by PATCH, shown in status, and refused when misspelled")
    func resetOverTheAPI() async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase()
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo()))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let defaulted = try await api.send(.post, "/v1/pools", body: #"{"name": "d", "conninfo": "\#(server.conninfo(database: database))", "max": 1}"#)
            #expect((defaulted["settings"] as? [String: Any])?["reset"] as? String == "discard_all")
            let create = #"{"name": "r", "conninfo": "\#(server.conninfo(database: database))", "max": 1, "reset": "none", "reset_statement": "SET search_path = public"}"#
            let created = try await api.send(.post, "/v1/pools", body: create)
            #expect(created.status == 201, "\(created.text)")
            #expect((created["settings"] as? [String: Any])?["reset"] as? String == "none")
            #expect((created["settings"] as? [String: Any])?["reset_statement"] as? String == "SET search_path = public")
            let wrong = try await api.send(.post, "/v1/pools", body: #"{"name": "w", "conninfo": "dbname=x", "reset": "rollback"}"#)
            #expect(wrong.status == 400 && wrong.code == "invalid_request", "\(wrong.text)")

            // With reset none, what one caller sets, the next sees; PATCH puts the reset back.
            let first = try await api.borrow("r")
            try await api.query(first, "SET application_name = 'left-behind'")
            #expect(try await api.send(.delete, "/v1/leases/\(first)", key: ServiceHarness.appKey).status == 204)
            let patched = try await api.send(.patch, "/v1/pools/r", body: #"{"reset": "discard_all", "reset_statement": ""}"#)
            #expect((patched["settings"] as? [String: Any])?["reset"] as? String == "discard_all")
            #expect((patched["settings"] as? [String: Any])?["reset_statement"] == nil)
            let second = try await api.borrow("r")
            try await api.query(second, "SET application_name = 'left-behind'")
            #expect(try await api.send(.delete, "/v1/leases/\(second)", key: ServiceHarness.appKey).status == 204)
            let shot = try await api.send(.post, "/v1/pools/r/query", key: ServiceHarness.appKey, body: #"{"sql": "SELECT current_setting('application_name')"}"#)
            #expect((shot["rows"] as? [[Any]])?.first?.first as? String == "poolwarden:r", "\(shot.text)")
        }
    }

    @Test("an admin revokes one leaked lease by its prefix: rolled back, 410 revoked, the answer names it")
    func revokeByPrefix() async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase()
        try await server.execute("CREATE TABLE kept (id int)", database: database)
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo(database: database), extra: ["max": "3"]))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let leaked = try await api.borrow("main")
            try await api.query(leaked, "BEGIN")
            try await api.query(leaked, "INSERT INTO kept VALUES (1)")
            let other = try await api.borrow("main", key: ServiceHarness.otherKey)
            let prefix = String(leaked.prefix(12))
            #expect(try await api.send(.delete, "/v1/pools/main/leases/\(prefix)", key: ServiceHarness.appKey).status == 403)
            let revoked = try await api.send(.delete, "/v1/pools/main/leases/\(prefix)")
            #expect(revoked.status == 200, "\(revoked.text)")
            #expect(revoked["caller"] as? String == "app" && revoked["token_prefix"] as? String == prefix)
            #expect(!revoked.text.contains(leaked))
            let gone = try await api.query(leaked, "COMMIT")
            #expect(gone.status == 410 && gone["reason"] as? String == "revoked", "\(gone.text)")
            #expect(try await api.send(.delete, "/v1/pools/main/leases/\(prefix)").code == "lease_not_found")
            #expect(try await api.query(other, "SELECT 1", key: ServiceHarness.otherKey).status == 200)
            #expect(try await api.send(.delete, "/v1/pools/main/leases/pwl_").status == 400)
            let third = try await api.borrow("main")
            // The CLI finds the pool by itself.
            let cli = try await CLIClientTests.cli(["revoke", String(third.prefix(12))], port: api.client.port, key: ServiceHarness.adminKey)
            #expect(cli.status == 0 && cli.stdout == "revoked \(third.prefix(12)) (pool main, caller app)\n", "\(cli)")
            let totals = try await api.send(.get, "/v1/pools/main")["totals"] as? [String: Any]
            #expect(totals?["revoked"] as? Int == 2)
        }
        #expect(try await server.execute("SELECT count(*) FROM kept", database: database).rows == [[.int(0)]])
    }

    @Test("resize down with leases out: surplus connections close as they come back")
    func resizeDown() async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase()
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo(database: database), extra: ["max": "6", "max_per_caller": "6"]))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            var tokens: [String] = []
            for _ in 0..<5 { tokens.append(try await api.borrow("main")) }
            #expect(try await server.wardenBackends(database: database) == 5)
            let resized = try await api.send(.patch, "/v1/pools/main", body: #"{"max": 2}"#)
            #expect(resized.status == 200)
            for token in tokens { #expect(try await api.query(token, "SELECT 1").status == 200) }
            for token in tokens { try await api.send(.delete, "/v1/leases/\(token)", key: ServiceHarness.appKey) }
            var backends = try await server.wardenBackends(database: database)
            for _ in 0..<30 where backends > 2 {
                try await Task.sleep(for: .milliseconds(100))
                backends = try await server.wardenBackends(database: database)
            }
            #expect(backends <= 2)
        }
    }

    @Test("recycle immediate revokes leases and fresh backend PIDs follow")
    func recycleImmediate() async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase()
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo(database: database)))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let token = try await api.borrow("main")
            let before = try await api.send(.get, "/v1/leases/\(token)", key: ServiceHarness.appKey)["backend_pid"] as? Int
            let counts = try await api.send(.post, "/v1/pools/main/recycle", body: #"{"mode": "immediate"}"#)
            #expect(counts.status == 200)
            #expect(counts["revoked"] as? Int == 1)
            let gone = try await api.query(token, "SELECT 1")
            #expect(gone.status == 410)
            #expect(gone["reason"] as? String == "revoked")
            let fresh = try await api.borrow("main")
            let after = try await api.send(.get, "/v1/leases/\(fresh)", key: ServiceHarness.appKey)["backend_pid"] as? Int
            #expect(after != nil)
            #expect(after != before)
        }
    }

    @Test("status shows every connection's holder by caller and token prefix, never the token")
    func statusShowsHolders() async throws {
        let server = try await TestPostgres.server()
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo()))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let token = try await api.borrow("main")
            let status = try await api.send(.get, "/v1/pools/main")
            #expect(!status.text.contains(token))
            let connections = status["connections"] as? [[String: Any]] ?? []
            let holder = connections.first { $0["caller"] as? String == "app" }
            #expect(holder?["token_prefix"] as? String == String(token.prefix(12)))
            let leases = try await api.send(.get, "/v1/pools/main/leases", key: ServiceHarness.appKey)
            #expect((leases["leases"] as? [[String: Any]])?.count == 1)
            #expect(!leases.text.contains(token))
            let activity = try await server.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE $1", ["%" + String(token.prefix(12)) + "%"])
            #expect(activity.rows == [[.int(1)]])
        }
    }
}
