#if canImport(Glibc)
import Glibc
#endif
import Foundation
import PoolWardenHTTP
import PoolWardenRuntime
import TestPostgres
import Testing

/// Runs the scripts in examples/ as subprocesses against the real service (in-process, on a live
/// loopback port) and a real PostgreSQL, the way a user or cron would.
///
/// No `.timeLimit`: past it Swift Testing cancels the test, and cancelling a live Hummingbird server
/// that holds an accepted connection traps in NIO ("Deinited NIOAsyncWriter without calling
/// finish()", apple/swift-nio#3481), which ended a whole loaded run. Each script runs under
/// `timeout 30` instead.
@Suite("examples/: the scripts against the service")
struct ExamplesTests {
    static let auditTable = "CREATE TABLE audit (id serial PRIMARY KEY, actor text, amount numeric(10,2), note text, at timestamptz NOT NULL DEFAULT now())"

    @Test("borrow-transaction.sh commits through the token, releases in its trap, and a failed statement commits nothing")
    func bashTransaction() async throws {
        try await transaction(["bash", Examples.path("borrow-transaction.sh")])
    }

    @Test("borrow_transaction.py commits through the token, releases in finally, and a failed statement commits nothing")
    func pythonTransaction() async throws {
        try await transaction(["python3", Examples.path("borrow_transaction.py")])
    }

    private func transaction(_ script: [String]) async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase()
        try await server.execute(Self.auditTable, database: database)
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("billing", conninfo: server.conninfo(database: database)))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let url = "http://127.0.0.1:\(api.client.port ?? 0)"

            let committed = try await Examples.run(script + ["billing", "audit", "10.50", "20"], url: url)
            #expect(committed.status == 0, "\(committed.output)")
            #expect(committed.output.contains("committed 2 row(s)"), "\(committed.output)")
            #expect(committed.output.contains("released the lease"), "\(committed.output)")
            Examples.expectNoSecrets(committed.output)
            #expect(try await Examples.leased(api, "billing") == 0)

            // The second amount is refused by PostgreSQL after the first was inserted: the script
            // fails, its release rolls the open transaction back, nothing of it is committed.
            let failed = try await Examples.run(script + ["billing", "audit", "5", "oops"], url: url)
            #expect(failed.status == 2, "\(failed.output)")
            #expect(failed.output.contains("inserted amount 5"), "\(failed.output)")
            #expect(failed.output.contains("sql_error") && failed.output.contains("22P02"), "the problem's code and SQLSTATE: \(failed.output)")
            #expect(failed.output.contains("released the lease"), "\(failed.output)")
            #expect(!failed.output.contains("committed"), "\(failed.output)")
            Examples.expectNoSecrets(failed.output)
            #expect(try await Examples.leased(api, "billing") == 0)

            // A wrong key: the service says no before anything is borrowed.
            let refused = try await Examples.run(script + ["billing", "audit", "1"], url: url, key: "not-a-key-of-this-service")
            #expect(refused.status == 2, "\(refused.output)")
            #expect(refused.output.contains("unauthorized"), "\(refused.output)")
            #expect(!refused.output.contains("not-a-key-of-this-service"))

            let pool = try await api.send(.get, "/v1/pools/billing")
            #expect((pool["totals"] as? [String: Any])?["borrows"] as? Int == 2)
        }
        let note = String(script[1].split(separator: "/").last ?? "")
        let rows = try await server.execute("SELECT amount::text, note FROM audit ORDER BY id", database: database)
        #expect(rows.rows == [[.string("10.50"), .string(note)], [.string("20.00"), .string(note)]])

        // Nothing listens: exit status 3.
        let port = try TestCluster.freePort()
        let unreachable = try await Examples.run(script + ["billing", "audit"], url: "http://127.0.0.1:\(port)")
        #expect(unreachable.status == 3, "\(unreachable.output)")
        #expect(unreachable.output.contains("cannot reach"), "\(unreachable.output)")
    }

    @Test("nightly-report.sh prints its rows, releases, and a retried run reuses the lease of its key")
    func nightlyReport() async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase()
        try await server.execute("CREATE TABLE invoices (id serial PRIMARY KEY, customer text, amount numeric(10,2))", database: database)
        try await server.execute("INSERT INTO invoices (customer, amount) VALUES ('acme', 120.50), ('acme', 99.50), ('globex', 99.99), ('o\"brien \\ co', 1)", database: database)
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("billing", conninfo: server.conninfo(database: database)))
        let script = ["bash", Examples.path("nightly-report.sh")]
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let url = "http://127.0.0.1:\(api.client.port ?? 0)"

            let first = try await Examples.run(script + ["billing", "2025-05-01"], url: url)
            #expect(first.status == 0, "\(first.output)")
            #expect(first.output.contains("borrowed a connection from pool billing (key nightly-report-2025-05-01)"), "\(first.output)")
            let lines = first.output.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
            #expect(lines.contains("acme 2 220.00"), "\(first.output)")
            #expect(lines.contains("globex 1 99.99"), "\(first.output)")
            #expect(lines.contains("o\"brien \\ co 1 1.00"), "a name with a quote and a backslash: \(first.output)")
            #expect(lines.contains("3 customer(s), 4 invoice(s), total 320.99"), "\(first.output)")
            #expect(first.output.contains("released the lease"))
            Examples.expectNoSecrets(first.output)
            #expect(try await Examples.leased(api, "billing") == 0)

            // Run twice: the same report, a fresh lease (the first one was released).
            let second = try await Examples.run(script + ["billing", "2025-05-01"], url: url)
            #expect(second.status == 0, "\(second.output)")
            #expect(second.output.contains("borrowed a connection"), "\(second.output)")
            #expect(second.output.split(separator: "\n").filter { $0.hasPrefix("acme") } == first.output.split(separator: "\n").filter { $0.hasPrefix("acme") })

            // A run that died holding its lease, inside a failed transaction: the retry with the
            // same key gets that very lease back, starts clean, reports, and releases it.
            let dead = try await api.send(.post, "/v1/pools/billing/leases", key: ServiceHarness.appKey, body: #"{"key": "nightly-report-2025-05-02"}"#)
            #expect(dead.status == 201)
            let token = try #require(dead["token"] as? String)
            try await api.query(token, "BEGIN")
            #expect(try await api.query(token, "SELECT 1/0").code == "sql_error")
            let retry = try await Examples.run(script + ["billing", "2025-05-02"], url: url)
            #expect(retry.status == 0, "\(retry.output)")
            #expect(retry.output.contains("reusing the lease of an earlier, unfinished run (key nightly-report-2025-05-02)"), "\(retry.output)")
            #expect(retry.output.contains("3 customer(s), 4 invoice(s), total 320.99"), "\(retry.output)")
            #expect(retry.output.contains("released the lease"))
            Examples.expectNoSecrets(retry.output, token: token)
            #expect(try await api.send(.get, "/v1/leases/\(token)", key: ServiceHarness.appKey).status == 404)
            #expect(try await Examples.leased(api, "billing") == 0)

            // A query PostgreSQL refuses: exit 2 with the problem, and the lease is released.
            let broken = try await Examples.run(script + ["billing", "2025-05-03"], url: url, environment: ["REPORT_TABLE": "no_such_table"])
            #expect(broken.status == 2, "\(broken.output)")
            #expect(broken.output.contains("sql_error") && broken.output.contains("42P01"), "\(broken.output)")
            #expect(broken.output.contains("released the lease"))
            #expect(try await Examples.leased(api, "billing") == 0)

            let pool = try await api.send(.get, "/v1/pools/billing")
            #expect((pool["totals"] as? [String: Any])?["borrows"] as? Int == 4, "the retry borrowed nothing new: \(pool.text)")
        }
    }

    @Test("every example has a usage header and is executable")
    func headers() throws {
        for name in ["borrow-transaction.sh", "borrow_transaction.py", "nightly-report.sh"] {
            let path = Examples.path(name)
            #expect(FileManager.default.isExecutableFile(atPath: path), "\(name) is not executable")
            let text = try String(contentsOfFile: path, encoding: .utf8)
            #expect(text.hasPrefix("#!/usr/bin/env "), "\(name)")
            #expect(text.prefix(1500).contains("Usage:"), "\(name) has no usage header")
            #expect(text.contains("POOLWARDEN_URL") && text.contains("POOLWARDEN_KEY"), "\(name)")
            if name.hasSuffix(".sh") {
                #expect(text.contains("set -euo pipefail"), "\(name)")
                #expect(text.contains("trap release EXIT"), "\(name)")
                #expect(!text.contains("jq "), "\(name): a fresh machine may lack jq")
            }
        }
    }
}

enum Examples {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("examples").path

    static func path(_ name: String) -> String { directory + "/" + name }

    struct Outcome: Sendable {
        var status: Int32
        var output: String
    }

    /// Runs `command` (stdout and stderr together) with POOLWARDEN_URL and POOLWARDEN_KEY set, under
    /// a 30 s `timeout`, and returns its exit status and output.
    static func run(_ command: [String], url: String, key: String = ServiceHarness.appKey, environment: [String: String] = [:]) async throws -> Outcome {
        let outputPath = NSTemporaryDirectory() + "poolwarden-example-\(UUID().uuidString).log"
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        var variables = ["POOLWARDEN_URL": url, "POOLWARDEN_KEY": key, "no_proxy": "*", "NO_PROXY": "*"]
        variables.merge(environment) { $1 }
        let assignments = variables.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let unset = ["POOLWARDEN_POOL", "POOLWARDEN_TABLE", "REPORT_POOL", "REPORT_DATE", "REPORT_TABLE", "REPORT_JOB"].flatMap { ["-u", $0] }
        let pid = try TestCluster.spawn("/usr/bin/env", unset + assignments + ["timeout", "30"] + command, outputPath: outputPath)
        let status = try await TestPostgres.offThread { () -> Int32 in
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            return status
        }
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        return Outcome(status: status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f), output: output)
    }

    /// Leased connections of `pool` once releases have settled (the service answers a release after
    /// the rollback, so this is normally 0 at once).
    static func leased(_ api: APIClient, _ pool: String) async throws -> Int {
        var leased = -1
        for attempt in 0..<20 {
            if attempt > 0 { try await Task.sleep(for: .milliseconds(100)) }
            let status = try await api.send(.get, "/v1/pools/\(pool)")
            leased = (status["counts"] as? [String: Any])?["leased"] as? Int ?? -1
            if leased == 0 { break }
        }
        return leased
    }

    /// No caller key and no full lease token in a script's output.
    static func expectNoSecrets(_ output: String, token: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
        for key in [ServiceHarness.appKey, ServiceHarness.adminKey, ServiceHarness.otherKey] {
            #expect(!output.contains(key), "a key in the output", sourceLocation: sourceLocation)
        }
        #expect(output.range(of: #"pwl_[A-Za-z0-9_-]{43}"#, options: .regularExpression) == nil, "a token in the output: \(output)", sourceLocation: sourceLocation)
        if let token {
            #expect(!output.contains(token), sourceLocation: sourceLocation)
            #expect(!output.contains(String(token.dropFirst(4).prefix(20))), sourceLocation: sourceLocation)
        }
    }
}
