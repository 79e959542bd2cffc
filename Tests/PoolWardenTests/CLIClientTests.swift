import Foundation
import PoolWardenHTTP
import PoolWardenRuntime
import TestPostgres
import Testing

@Suite("CLI: the client subcommands against a live service")
struct CLIClientTests {
    /// Runs `poolwarden` against the service on `port` with `key` in POOLWARDEN_KEY, and checks
    /// what every run must hold: no caller key in its output, whatever happened.
    static func cli(_ arguments: [String], port: Int?, key: String? = ServiceHarness.appKey, environment: [String: String] = [:]) async throws -> CLIProcess.Result {
        var variables = environment
        if let port { variables["POOLWARDEN_URL"] = "http://127.0.0.1:\(port)" }
        if let key { variables["POOLWARDEN_KEY"] = key }
        let result = try await CLIProcess.run(arguments, environment: variables)
        for secret in [ServiceHarness.adminKey, ServiceHarness.appKey, ServiceHarness.otherKey] {
            #expect(!result.stdout.contains(secret) && !result.stderr.contains(secret), "a key leaked: poolwarden \(arguments)")
        }
        return result
    }

    /// The whitespace-separated fields of the line of `text` whose first field is `first`.
    static func row(_ first: String, in text: String) -> [String]? {
        text.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }.first { $0.first == first }
    }

    @Test("borrow prints the token alone; query prints a table or the raw JSON; release gives it back")
    func borrowQueryRelease() async throws {
        let server = try await TestPostgres.server()
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo(), extra: ["max": "4"]))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let port = api.client.port
            let borrow = try await Self.cli(["borrow", "main", "--ttl", "60s", "--wait", "5s"], port: port)
            #expect(borrow.status == 0, "\(borrow)")
            #expect(borrow.stderr.isEmpty)
            #expect(borrow.stdout.wholeMatch(of: /pwl_[A-Za-z0-9_-]{43}\n/) != nil, "\(borrow)")
            let token = borrow.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            var outputs: [CLIProcess.Result] = []

            let table = try await Self.cli(["query", token, "SELECT $1::int AS n, $2::text AS t, $3::text AS nothing", "41", "hello", "NULL"], port: port)
            #expect(table.status == 0, "\(table)")
            #expect(table.stdout == " n  t      nothing\n41  hello  NULL\n(1 row)\n")
            outputs.append(table)

            let escaped = try await Self.cli(["query", token, "SELECT $1::text IS NULL AS is_null, $2::text AS text", "NULL", "\\NULL"], port: port)
            #expect(escaped.stdout == "is_null  text\ntrue     NULL\n(1 row)\n", "\(escaped)")
            outputs.append(escaped)

            let json = try await Self.cli(["query", "--json", token, "SELECT x FROM generate_series(1, 3) x"], port: port)
            let result = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json)")
            #expect(result["row_count"] as? Int == 3)
            #expect(result["rows"] as? [[Int]] == [[1], [2], [3]])
            outputs.append(json)

            let begin = try await Self.cli(["query", token, "BEGIN"], port: port)
            #expect(begin.stdout == "BEGIN\n")
            outputs.append(begin)

            // A transaction that failed: its COMMIT comes back as ROLLBACK, and the script must stop.
            let failed = try await Self.cli(["query", token, "SELECT 1/0"], port: port)
            #expect(failed.status == 2)
            let commit = try await Self.cli(["query", token, "commit;"], port: port)
            #expect(commit.status == 4, "\(commit)")
            #expect(commit.stdout == "ROLLBACK\n")
            #expect(commit.stderr.hasPrefix("poolwarden: COMMIT answered ROLLBACK"), "\(commit)")
            _ = try await Self.cli(["query", token, "BEGIN"], port: port)
            let committed = try await Self.cli(["query", token, "END"], port: port)
            #expect(committed.status == 0 && committed.stdout == "COMMIT\n", "\(committed)")
            outputs += [failed, commit, committed]

            let single = try await Self.cli(["query", "--pool", "main", "--", "SELECT $1::int * 2 AS twice", "-21"], port: port)
            #expect(single.stdout == "twice\n  -42\n(1 row)\n", "\(single)")

            let release = try await Self.cli(["release", token], port: port)
            #expect(release.status == 0, "\(release)")
            #expect(release.stdout == "released \(token.prefix(12))\n")
            outputs.append(release)

            let again = try await Self.cli(["release", token], port: port)
            #expect(again.status == 2)
            #expect(again.stderr.hasPrefix("poolwarden: lease_not_found: "), "\(again)")
            outputs.append(again)
            for output in outputs {
                #expect(!output.stdout.contains(token) && !output.stderr.contains(token), "only borrow prints the token")
            }
        }
    }

    @Test("status prints one row per pool; -v one row per connection with its holder; --json the answer")
    func status() async throws {
        let server = try await TestPostgres.server()
        let pools = [
            ServiceHarness.pool("main", conninfo: server.conninfo(), extra: ["max": "4"]),
            ServiceHarness.pool("side", conninfo: server.conninfo(), extra: ["max": "2"]),
        ].joined(separator: "\n")
        try await ServiceHarness.run(yaml: ServiceHarness.yaml(pools: pools)) { api, _ in
            let port = api.client.port
            let token = try await api.borrow("main")
            let status = try await Self.cli(["status"], port: port, key: ServiceHarness.adminKey)
            #expect(status.status == 0, "\(status)")
            #expect(Self.row("POOL", in: status.stdout) == ["POOL", "STATE", "OPEN/MAX", "IDLE", "LEASED", "WAITING", "BORROWS", "TIMEOUTS"])
            #expect(Self.row("main", in: status.stdout) == ["main", "running", "1/4", "0", "1", "0", "1", "0"], "\(status)")
            #expect(Self.row("side", in: status.stdout) == ["side", "running", "0/2", "0", "0", "0", "0", "0"])

            let verbose = try await Self.cli(["status", "main", "-v"], port: port, key: ServiceHarness.adminKey)
            let connection = try #require(verbose.stdout.split(separator: "\n").first { $0.contains("leased") && $0.hasPrefix("main") }, "\(verbose)")
            #expect(connection.contains(" app ") && connection.hasSuffix(String(token.prefix(12))), "\(verbose)")
            #expect(!verbose.stdout.contains(token))
            #expect(Self.row("side", in: verbose.stdout) == nil)

            let json = try await Self.cli(["status", "side", "--json"], port: port)
            let pool = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json)")
            #expect(pool["name"] as? String == "side")

            let missing = try await Self.cli(["status", "nosuch"], port: port, key: ServiceHarness.adminKey)
            #expect(missing.status == 2)
            #expect(missing.stderr.hasPrefix("poolwarden: pool_not_found: "), "\(missing)")
        }
    }

    @Test("create-pool, resize, pause, resume, leases, renew, recycle, delete-pool")
    func operatorCommands() async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase()
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo()))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let port = api.client.port
            let admin = ServiceHarness.adminKey
            let created = try await Self.cli(
                ["create-pool", "extra", "--conninfo", server.conninfo(database: database), "--password-env", "T_PG_PASSWORD",
                 "--min", "1", "--max", "3", "--lease-ttl", "90s"],
                port: port, key: admin, environment: ["T_PG_PASSWORD": "not-shown-secret"]
            )
            #expect(created.status == 0, "\(created)")
            #expect(Self.row("extra", in: created.stdout)?.prefix(2) == ["extra", "running"])
            #expect(!created.stdout.contains("not-shown-secret"))

            // A servers: entry that does not exist is refused, not ignored; off is the config's spelling.
            let unknownServer = try await Self.cli(
                ["create-pool", "other", "--conninfo", server.conninfo(database: database), "--server", "db9:5432"], port: port, key: admin
            )
            #expect(unknownServer.status == 2 && unknownServer.stderr.contains("no servers: entry db9:5432"), "\(unknownServer)")
            let off = try await Self.cli(
                ["create-pool", "other", "--conninfo", server.conninfo(database: database), "--max-lifetime", "off", "--idle-timeout", "0", "--json"],
                port: port, key: admin
            )
            #expect(off.status == 0, "\(off)")
            let offSettings = (try JSONSerialization.jsonObject(with: Data(off.stdout.utf8)) as? [String: Any])?["settings"] as? [String: Any]
            #expect(offSettings?["max_lifetime_ms"] as? Int == 0 && offSettings?["idle_timeout_ms"] as? Int == 0, "\(off.stdout)")

            let resized = try await Self.cli(["resize", "extra", "--max", "5", "--max-per-caller", "1"], port: port, key: admin)
            #expect(resized.stdout.hasPrefix("resized extra: min 1, max 5, max per caller 1\n"), "\(resized)")

            let paused = try await Self.cli(["pause", "extra"], port: port, key: admin)
            #expect(Self.row("extra", in: paused.stdout)?[1] == "paused", "\(paused)")
            let waited = try await Self.cli(["borrow", "extra", "--wait", "200ms"], port: port)
            #expect(waited.status == 2)
            #expect(waited.stdout.isEmpty)
            #expect(waited.stderr.hasPrefix("poolwarden: pool_paused: "), "\(waited)")
            let resumed = try await Self.cli(["resume", "extra"], port: port, key: admin)
            #expect(Self.row("extra", in: resumed.stdout)?[1] == "running", "\(resumed)")

            let first = try await Self.cli(["borrow", "extra", "--key", "job-1"], port: port)
            let second = try await Self.cli(["borrow", "extra", "--key", "job-1"], port: port)
            #expect(first.status == 0 && !first.stdout.isEmpty, "\(first)")
            #expect(second.stdout == first.stdout, "the same key gives the same lease")
            let token = first.stdout.trimmingCharacters(in: .whitespacesAndNewlines)

            let leases = try await Self.cli(["leases", "extra"], port: port, key: admin)
            #expect(Self.row(String(token.prefix(12)), in: leases.stdout)?.dropFirst().first == "app", "\(leases)")
            #expect(Self.row(String(token.prefix(12)), in: leases.stdout)?.last == "job-1")
            #expect(!leases.stdout.contains(token))

            let renewed = try await Self.cli(["renew", token, "--ttl", "2m"], port: port)
            #expect(renewed.status == 0, "\(renewed)")
            #expect(renewed.stdout.hasPrefix("renewed \(token.prefix(12)): expires in "), "\(renewed)")
            #expect(renewed.stdout.hasSuffix("(ttl 2m)\n"))

            let recycled = try await Self.cli(["recycle", "extra", "--immediate", "--older-than", "0s"], port: port, key: admin)
            #expect(recycled.stdout.hasSuffix("1 lease(s) revoked\n"), "\(recycled)")
            let gone = try await Self.cli(["query", token, "SELECT 1"], port: port)
            #expect(gone.status == 2)
            #expect(gone.stderr.hasPrefix("poolwarden: lease_gone: "), "\(gone)")

            let deleted = try await Self.cli(["delete-pool", "extra"], port: port, key: admin)
            #expect(deleted.status == 0, "\(deleted)")
            #expect(deleted.stdout == "deleted pool extra\n")
            #expect(try await Self.cli(["status", "extra"], port: port, key: admin).status == 2)
        }
        #expect(try await server.wardenBackends(database: database) == 0)
    }

    @Test("the service's no exits 2 with the problem's code and detail on stderr (--json: the problem on stdout)")
    func refusals() async throws {
        let server = try await TestPostgres.server()
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo(), extra: ["max_per_caller": "1"]))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let port = api.client.port
            #expect(try await Self.cli(["borrow", "main"], port: port).status == 0)
            let quota = try await Self.cli(["borrow", "main", "--wait", "200ms"], port: port)
            #expect(quota.status == 2)
            #expect(quota.stdout.isEmpty)
            #expect(quota.stderr.hasPrefix("poolwarden: caller_quota: "), "\(quota)")

            let forbidden = try await Self.cli(["resize", "main", "--max", "3"], port: port)
            #expect(forbidden.status == 2)
            #expect(forbidden.stderr.hasPrefix("poolwarden: forbidden: "), "\(forbidden)")

            let sql = try await Self.cli(["query", "--pool", "main", "SELECT nope"], port: port, key: ServiceHarness.otherKey)
            #expect(sql.status == 2)
            #expect(sql.stderr.hasPrefix("poolwarden: sql_error: column \"nope\" does not exist (SQLSTATE 42703)"), "\(sql)")

            let json = try await Self.cli(["status", "nosuch", "--json"], port: port, key: ServiceHarness.adminKey)
            #expect(json.status == 2)
            let problem = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json)")
            #expect(problem["code"] as? String == "pool_not_found")

            let wrongKey = "wrong-key-that-must-not-echo"
            let unknown = try await Self.cli(["status", "--api-key", wrongKey], port: port, key: ServiceHarness.adminKey)
            #expect(unknown.status == 2)
            #expect(unknown.stderr.hasPrefix("poolwarden: unauthorized: "), "\(unknown)")
            #expect(!unknown.stderr.contains(wrongKey) && !unknown.stdout.contains(wrongKey))

            let none = try await Self.cli(["status"], port: port, key: nil)
            #expect(none.status == 2)
            #expect(none.stderr.contains("POOLWARDEN_KEY"), "\(none)")
        }
    }

    @Test("reload prints what changed (--json: the answer), and every problem of an invalid file by field, exit 2")
    func reload() async throws {
        let server = try await TestPostgres.server()
        try await ReloadableConfig.run({ $0.yaml(pools: [ServiceHarness.pool("main", conninfo: server.conninfo())]) }) { api, file in
            let port = api.client.port
            let same = try await Self.cli(["reload"], port: port, key: ServiceHarness.adminKey)
            #expect(same.status == 0 && same.stdout == "reloaded: nothing changed\n", "\(same)")

            try file.write(file.yaml(pools: [ServiceHarness.pool("main", conninfo: server.conninfo(), extra: ["max": "7"])]))
            let changed = try await Self.cli(["reload"], port: port, key: ServiceHarness.adminKey)
            #expect(changed.status == 0, "\(changed)")
            #expect(changed.stdout == "reloaded: 1 change(s)\n  pool main: max from the file\n", "\(changed)")

            try file.write(file.yaml(pools: [ServiceHarness.pool("main", conninfo: server.conninfo(), extra: ["max": "6"])]))
            let json = try await Self.cli(["reload", "--json"], port: port, key: ServiceHarness.adminKey)
            let answer = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json)")
            #expect((answer["changes"] as? [[String: Any]])?.first?["kind"] as? String == "pool_changed")

            try file.write(file.yaml(pools: [ServiceHarness.pool("main", conninfo: server.conninfo(), extra: ["max": "0", "min": "-1"])]))
            let invalid = try await Self.cli(["reload"], port: port, key: ServiceHarness.adminKey)
            #expect(invalid.status == 2, "\(invalid)")
            #expect(invalid.stderr.hasPrefix("poolwarden: invalid_config: the config file has 2 problems and nothing was changed\n"), "\(invalid)")
            #expect(invalid.stderr.contains("poolwarden:   pools[0].max: ") && invalid.stderr.contains("poolwarden:   pools[0].min: "), "\(invalid)")

            let client = try await Self.cli(["reload"], port: port, key: ServiceHarness.appKey)
            #expect(client.status == 2 && client.stderr.contains("forbidden"), "\(client)")
        }
    }

    @Test("nothing listening: exit 3 with the URL in the message")
    func unreachable() async throws {
        let port = try TestCluster.freePort()
        for arguments in [["status"], ["borrow", "main"], ["release", "pwl_secret-token-never-printed"]] {
            let result = try await Self.cli(arguments, port: port)
            #expect(result.status == 3, "\(result)")
            #expect(result.stdout.isEmpty)
            #expect(result.stderr == "poolwarden: cannot reach PoolWarden at http://127.0.0.1:\(port): connection refused\n", "\(result)")
        }
    }

    @Test("--version prints the version the service reports")
    func version() async throws {
        let result = try await Self.cli(["--version"], port: nil)
        #expect(result.status == 0 && result.stdout == "\(poolWardenVersion)\n", "\(result)")
    }

    @Test("usage errors exit 1 before anything is sent")
    func usageErrors() async throws {
        let port = try TestCluster.freePort()
        let cases: [[String]] = [
            ["borrow"], ["borrow", "main", "--ttl", "5x"], ["borrow", "main", "--wait", "5000"], ["query", "pwl_x"], ["query", "--pool", "main"],
            ["resize", "main"], ["status", "--url", "ftp://example"], ["no-such-command"], ["borrow", "--api-key", ServiceHarness.adminKey],
            ["create-pool", "x", "--conninfo", "host=db", "--password-env", "T_NO_SUCH_VARIABLE"],
        ]
        for arguments in cases {
            let result = try await Self.cli(arguments, port: port)
            #expect(result.status == 1, "poolwarden \(arguments): \(result)")
            #expect(result.stderr.hasPrefix("Error: "), "poolwarden \(arguments): \(result)")
        }
    }
}
