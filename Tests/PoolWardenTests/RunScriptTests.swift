#if canImport(Glibc)
import Glibc
#endif
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import TestPostgres
import Testing

/// `./scripts/run` as a new user meets it: the README's tour must be the one it prints, every line
/// of it (the examples and the CLI included) must work against the service and databases it starts,
/// a second start must not build again, and the docs must agree with .gitignore.
@Suite("scripts/run: its build, its tour and examples/ against the service it starts", .ownThread)
struct RunScriptTests {
    @Test("scripts/run prints the README's tour; pasted after its export lines, every command works; Ctrl-C removes the cluster", .timeLimit(.minutes(4)))
    func tour() async throws {
        let tour = try Repository.readmeTour()
        let work = try Repository.temporaryDirectory("pw-run")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let runLog = work + "/run.log"
        let port = try TestCluster.freePort()
        // setsid: a process group of its own, so that SIGINT reaches it as Ctrl-C would; the
        // debug binary the tests built, so that no release build happens here.
        let run = try TestCluster.spawn("/usr/bin/env", ["-C", Repository.root] + Repository.unsetVariables + [
            "POOLWARDEN_BINARY=\(CLIProcess.binary)", "POOLWARDEN_PORT=\(port)",
            "/usr/bin/setsid", "bash", "scripts/run",
        ], outputPath: runLog)
        var stopped = false
        defer {
            if !stopped {
                Repository.stopGroup(run, log: runLog)
            }
        }

        let url = "http://127.0.0.1:\(port)"
        var printed = ""
        var healthy = false
        for _ in 0..<600 where !healthy {
            try await Task.sleep(for: .milliseconds(100))
            printed = Repository.read(runLog)
            if Repository.exited(run) != nil {
                stopped = true
                break
            }
            if printed.contains("\nexport PATH=") {
                healthy = (try? await Repository.request("GET", url + "/healthz"))?.status == 200
            }
        }
        try #require(healthy, "scripts/run did not bring the service up:\n\(printed)")

        #expect(printed.contains("\n\n" + tour + "\n\n"), "scripts/run does not print README.md's tour verbatim:\n\(printed)")
        #expect(!printed.contains("Compiling") && !printed.contains("building"), "POOLWARDEN_BINARY set: nothing is built\n\(printed)")
        let lines = printed.split(separator: "\n").map(String.init)
        let exportURL = try #require(lines.first { $0.hasPrefix("export POOLWARDEN_URL=") }, "\(printed)")
        let exportPath = try #require(lines.first { $0.hasPrefix("export PATH=") }, "\(printed)")
        #expect(exportURL.hasPrefix("export POOLWARDEN_URL=\(url) OPS_KEY=ops-"), "\(exportURL)")
        let opsKey = try #require(Repository.value(of: "OPS_KEY", in: exportURL))
        let clientKey = try #require(Repository.value(of: "CLIENT_KEY", in: exportURL))
        let clusterDirectory = try #require(lines.first { $0.hasPrefix("==> config: ") }
            .map { String($0.dropFirst("==> config: ".count).prefix { $0 != " " }) }
            .map { URL(fileURLWithPath: $0).deletingLastPathComponent().path })

        // The tour as a user pastes it: the export lines, then the block. Under -e and pipefail,
        // and with a curl that fails on an HTTP error, any command that does not work stops it.
        let shim = try await Repository.failingCurl(in: work)
        let tourLog = work + "/tour.log"
        let script = [exportURL, exportPath, tour].joined(separator: "\n")
        let tourRun = try TestCluster.spawn("/usr/bin/env", ["-C", Repository.root] + Repository.unsetVariables + [
            "PATH=\(shim):\(ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")",
            "timeout", "150", "bash", "-euo", "pipefail", "-c", script,
        ], outputPath: tourLog)
        let tourStatus = try await Repository.wait(tourRun, seconds: 170)
        let output = Repository.read(tourLog)
        #expect(tourStatus == 0, "the tour stopped (exit \(String(describing: tourStatus))):\n\(output)")

        // A body without a final newline runs on into the shim's line: matched anywhere.
        let answers = output.matches(of: #/HTTP [0-9]{3} [A-Z]+ http\S+/#).map { String($0.output) }
        let curls = tour.split(separator: "\n").filter { $0.contains("curl -s") }.count
        #expect(answers.count == curls, "one answer per curl of the tour:\n\(output)")
        #expect(answers.allSatisfy { $0.hasPrefix("HTTP 20") }, "\(output)")
        #expect(answers.contains { $0.hasPrefix("HTTP 201 POST") && $0.hasSuffix("/v1/pools/billing/leases") }, "\(output)")
        #expect(answers.contains { $0.hasPrefix("HTTP 204 DELETE") }, "the release: \(output)")
        #expect(answers.contains { $0.hasPrefix("HTTP 200 DELETE") && $0.contains("/v1/pools/billing/leases/pwl_") }, "the revoke: \(output)")
        #expect(output.contains(#""drift":["max"]"#) || output.contains(#""drift": ["max"]"#), "\(output)")
        #expect(output.contains("key_env: OPS_KEY") && output.contains("key_env: CLIENT_KEY"), "GET /v1/config: \(output)")
        #expect(output.contains("committed 2 row(s)") && output.contains("committed 1 row(s)"), "both transaction examples: \(output)")
        #expect(output.components(separatedBy: "released the lease").count - 1 == 3, "each example released its lease: \(output)")
        #expect(output.contains("2 customer(s), 2 invoice(s), total 230.49"), "nightly-report.sh after the tour's UPDATE: \(output)")
        #expect(output.contains("SERVER") && output.contains("127.0.0.1:"), "poolwarden status shows the server budget: \(output)")
        #expect(output.contains("poolwarden_server_connections{"), "\(output)")
        #expect(!output.contains(opsKey) && !output.contains(clientKey), "a key in the tour's output")

        let admin = ["Authorization": "Bearer \(opsKey)"]
        let invoice = try await Repository.request("POST", url + "/v1/pools/billing/query", headers: admin, body: #"{"sql": "SELECT amount::text FROM invoices WHERE id = 1"}"#)
        #expect((invoice.json["rows"] as? [[Any]])?.first?.first as? String == "130.50", "the tour's UPDATE committed: \(invoice.json)")
        let audit = try await Repository.request("POST", url + "/v1/pools/billing/query", headers: admin, body: #"{"sql": "SELECT count(*) FROM audit"}"#)
        #expect((audit.json["rows"] as? [[Any]])?.first?.first as? Int == 3, "\(audit.json)")
        let pool = try await Repository.request("GET", url + "/v1/pools/billing", headers: admin)
        #expect(pool.json["state"] as? String == "running", "the tour resumed what it paused: \(pool.json)")
        #expect((pool.json["counts"] as? [String: Any])?["leased"] as? Int == 0, "\(pool.json)")

        // Ctrl-C: the service stops gracefully, the script removes its cluster.
        kill(-run, SIGINT)
        let status = try await Repository.wait(run, seconds: 60)
        stopped = status != nil
        #expect(status == 0, "scripts/run after Ctrl-C:\n\(Repository.read(runLog))")
        #expect(!FileManager.default.fileExists(atPath: clusterDirectory), "the cluster in \(clusterDirectory) was not removed")
    }

    @Test("the release build: one line and a log, reused while no source changed, rebuilt after a change, the log's end on failure", .timeLimit(.minutes(1)))
    func buildRelease() async throws {
        let package = try Repository.temporaryDirectory("pw-build")
        defer { try? FileManager.default.removeItem(atPath: package) }
        let fake = package + "/fake-bin"
        try FileManager.default.createDirectory(atPath: package + "/Sources/App", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: fake, withIntermediateDirectories: true)
        try "// swift-tools-version: 6.1\n".write(toFile: package + "/Package.swift", atomically: true, encoding: .utf8)
        try "print(1)\n".write(toFile: package + "/Sources/App/main.swift", atomically: true, encoding: .utf8)
        // A stand-in for SwiftPM: as chatty as the real first build, and it fails on demand.
        try """
            #!/bin/sh
            echo "$*" >> "$SWIFT_CALLS"
            if [ "$1" = package ]; then
                echo "Fetching https://github.com/apple/swift-nio"
                [ -e Package.resolved ] || echo '{ "pins" : [] }' > Package.resolved
                exit 0
            fi
            i=0
            while [ $i -lt 1800 ]; do echo "[$i/1800] Compiling PoolWarden File$i.swift"; i=$((i + 1)); done
            if [ -n "${SWIFT_FAILS-}" ]; then echo "error: the last words of a failed build"; exit 1; fi
            mkdir -p .build/release && printf '#!/bin/sh\\n' > .build/release/poolwarden && chmod +x .build/release/poolwarden
            """.write(toFile: package + "/swift.stand-in", atomically: true, encoding: .utf8)
        let calls = package + "/calls"

        func build(fails: Bool = false) async throws -> (status: Int32?, output: String) {
            let log = package + "/out-\(UUID().uuidString)"
            let pid = try TestCluster.spawn("/usr/bin/env", [
                "-C", package, "PATH=\(fake):/usr/bin:/bin", "SWIFT_CALLS=\(calls)", "SWIFT_FAILS=\(fails ? "1" : "")",
                // Installed by the child: a file this process had open for writing while another
                // test forked would be "Text file busy" to exec (the fork inherits the descriptor).
                "timeout", "30", "bash", "-euo", "pipefail", "-c",
                "install -m 755 swift.stand-in fake-bin/swift; . '\(Repository.root)/scripts/lib.sh'; build_release",
            ], outputPath: log)
            return (try await Repository.wait(pid, seconds: 40), Repository.read(log))
        }
        func callCount() -> Int { Repository.read(calls).split(separator: "\n").filter { $0.hasPrefix("build ") }.count }

        let first = try await build()
        #expect(first.status == 0, "\(first.output)")
        #expect(first.output.split(separator: "\n").count == 1, "one line on the terminal: \(first.output)")
        #expect(first.output.hasPrefix("==> building poolwarden (release, 5 to 15 min the first time; log: \(package)/.build/run-build.log)"), "\(first.output)")
        #expect(Repository.read(package + "/.build/run-build.log").contains("[1799/1800]"), "the compiler's lines went to the log")
        #expect(Repository.read(calls) == "package resolve\nbuild -c release --product poolwarden\n")
        #expect(Repository.read(package + "/.build/run-build.log").hasPrefix("Fetching"), "the resolve's lines too")

        let second = try await build()
        #expect(second.status == 0 && callCount() == 1, "nothing changed (the Package.resolved the first build wrote included): no build\n\(second.output)")
        #expect(second.output.hasPrefix("==> poolwarden: reusing the release build"), "\(second.output)")

        try "print(2)\n".write(toFile: package + "/Sources/App/main.swift", atomically: true, encoding: .utf8)
        let changed = try await build()
        #expect(changed.status == 0 && callCount() == 2, "a source changed: built again\n\(changed.output)")
        #expect(changed.output.hasPrefix("==> building poolwarden (release; log: "), "not the first time: \(changed.output)")
        #expect(try await build().output.hasPrefix("==> poolwarden: reusing"))

        try "// swift-tools-version: 6.2\n".write(toFile: package + "/Package.swift", atomically: true, encoding: .utf8)
        let failed = try await build(fails: true)
        #expect(failed.status == 1, "\(failed.output)")
        #expect(failed.output.contains(" failed\n==> the end of \(package)/.build/run-build.log:"), "\(failed.output)")
        #expect(failed.output.contains("error: the last words of a failed build"), "\(failed.output)")
        #expect(failed.output.split(separator: "\n").count < 40, "the log's end, not all of it: \(failed.output)")
        let retried = try await build()
        #expect(retried.status == 0 && callCount() == 4, "a failed build is not taken for a good one\n\(retried.output)")
    }

    @Test("Package.resolved: .gitignore ignores it, and deploy/README says so and why instead of telling users to commit it")
    func packageResolved() throws {
        let ignored = try Repository.text(".gitignore").split(separator: "\n").contains("Package.resolved")
        #expect(ignored, "the team's decision: Package.resolved stays out of this repository")
        let deploy = try Repository.text("deploy/README.md")
        #expect(!deploy.contains("commit\n  `Package.resolved` for reproducible images") && !deploy.contains("commit `Package.resolved` for reproducible images"))
        for phrase in ["convention for an application", "`.gitignore` lists it", "mirrors", "If you fork"] {
            #expect(deploy.contains(phrase), "deploy/README.md lacks \(phrase)")
        }
    }
}

/// The repository's files and processes started from it.
enum Repository {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// Variables of the test's environment that would change what the scripts and examples do.
    static let unsetVariables = [
        "POOLWARDEN_URL", "POOLWARDEN_KEY", "POOLWARDEN_POOL", "POOLWARDEN_TABLE", "POOLWARDEN_BINARY", "POOLWARDEN_PORT",
        "REPORT_POOL", "REPORT_DATE", "REPORT_TABLE", "REPORT_JOB", "OPS_KEY", "CLIENT_KEY",
    ].flatMap { ["-u", $0] }

    static func text(_ relativePath: String) throws -> String {
        try String(contentsOfFile: root + "/" + relativePath, encoding: .utf8)
    }

    static func read(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    /// The fenced block under README.md's `<!-- tour` marker, as scripts/run extracts it.
    static func readmeTour() throws -> String {
        let lines = try text("README.md").split(separator: "\n", omittingEmptySubsequences: false)
        let marker = try #require(lines.firstIndex { $0.hasPrefix("<!-- tour") }, "README.md has no <!-- tour --> marker")
        let open = try #require(lines[marker...].firstIndex { $0.hasPrefix("```") })
        let close = try #require(lines[(open + 1)...].firstIndex { $0 == "```" })
        let block = lines[(open + 1)..<close].joined(separator: "\n")
        try #require(!block.isEmpty)
        return block
    }

    /// NAME's value in an `export A=1 NAME=2` line.
    static func value(of name: String, in line: String) -> String? {
        line.split(separator: " ").first { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }
    }

    static func temporaryDirectory(_ prefix: String) throws -> String {
        let path = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A directory holding a `curl` that fails on an HTTP error (with the body, as the tour shows
    /// it) and writes `HTTP status method url` to stderr; a caller's own --write-out (the examples'
    /// own) comes later in its arguments and wins.
    static func failingCurl(in directory: String) async throws -> String {
        let environmentPath = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let curl = try #require(environmentPath.split(separator: ":").map { "\($0)/curl" }.first { FileManager.default.isExecutableFile(atPath: $0) }, "curl is not installed")
        let shim = directory + "/shim"
        try FileManager.default.createDirectory(atPath: shim, withIntermediateDirectories: true)
        try """
            #!/bin/sh
            exec '\(curl)' --fail-with-body --max-time 30 --write-out '%{stderr}HTTP %{http_code} %{method} %{url_effective}\\n' "$@"
            """.write(toFile: shim + "/curl.text", atomically: true, encoding: .utf8)
        // Made executable by a child: a file this process had open for writing while another test
        // forked would be "Text file busy" to exec (the fork inherits the descriptor).
        let pid = try TestCluster.spawn("/usr/bin/install", ["-m", "755", shim + "/curl.text", shim + "/curl"])
        #expect(try await wait(pid, seconds: 20) == 0, "could not install the curl shim")
        return shim
    }

    /// The exit status once `pid` has ended, or nil while it runs.
    static func exited(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// The exit status of `pid`, or nil when it has not ended within `seconds` (it is then killed).
    static func wait(_ pid: pid_t, seconds: Int) async throws -> Int32? {
        for _ in 0..<(seconds * 10) {
            if let status = exited(pid) { return status }
            try await Task.sleep(for: .milliseconds(100))
        }
        kill(pid, SIGKILL)
        return nil
    }

    /// Stops a scripts/run that a failed test left running: Ctrl-C, then SIGKILL, and its cluster
    /// removed by the script's own function when the script could not.
    static func stopGroup(_ pid: pid_t, log: String) {
        kill(-pid, SIGINT)
        for _ in 0..<300 where exited(pid) == nil {
            usleep(100_000)
        }
        if exited(pid) == nil {
            kill(-pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        let configLine = read(log).split(separator: "\n").first { $0.hasPrefix("==> config: ") }
        if let config = configLine?.dropFirst("==> config: ".count).split(separator: " ").first {
            let directory = URL(fileURLWithPath: String(config)).deletingLastPathComponent().path
            if FileManager.default.fileExists(atPath: directory) {
                _ = try? TestCluster.run("/bin/bash", ["-c", ". '\(root)/scripts/lib.sh'; stop_throwaway_pg '\(directory)'"])
            }
        }
    }

    struct Reply: @unchecked Sendable {
        var status: Int
        var json: [String: Any]
    }

    static func request(_ method: String, _ url: String, headers: [String: String] = [:], body: String? = nil) async throws -> Reply {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        request.timeoutInterval = 5
        for (name, value) in headers {
            request.setValue(value, forHTTPHeaderField: name)
        }
        if let body {
            request.httpBody = Data(body.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        return Reply(status: (response as? HTTPURLResponse)?.statusCode ?? 0, json: json)
    }
}
