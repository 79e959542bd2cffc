#if canImport(Glibc)
import Glibc
#endif
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import PostgresLibPQ
import TestPostgres
import Testing

@Suite("The poolwarden executable")
struct ServeProcessTests {
    /// The `poolwarden` binary next to the test bundle in the build directory.
    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("poolwarden").path
    }

    // Its own thread: TestCluster.run waits for the process with a blocking waitpid.
    @Test("--check-config accepts a good file and names the field of a bad one", .ownThread)
    func checkConfig() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pw-check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let good = directory.appendingPathComponent("good.yaml").path
        try "pools:\n  - { name: app, conninfo: \"host=127.0.0.1 dbname=app\", max: 4 }\n".write(toFile: good, atomically: true, encoding: .utf8)
        let output = try TestCluster.run(Self.binary, ["serve", "--check-config", good])
        #expect(output.contains("valid"))
        let bad = directory.appendingPathComponent("bad.yaml").path
        try "pools:\n  - { name: app, conninfo: \"host=x\", lease_ttl: 5x }\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let error = try #require(throws: TestClusterError.self) { try TestCluster.run(Self.binary, ["serve", "--check-config", bad]) }
        #expect(error.description.contains("pools[0].lease_ttl"))
    }

    @Test("SIGTERM: in-flight work is rolled back, every backend closed, exit status 0")
    func gracefulShutdown() async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase()
        try await server.execute("CREATE TABLE t (id int)", database: database)
        let port = try TestCluster.freePort()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pw-serve-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("poolwarden.yaml").path
        try """
            listen: { host: 127.0.0.1, port: \(port) }
            pools:
              - { name: main, conninfo: "\(server.conninfo(database: database))", min: 2, max: 4 }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let log = directory.appendingPathComponent("log").path
        let pid = try TestCluster.spawn(Self.binary, ["serve", "--config", config], outputPath: log)
        var exited = false
        defer { if !exited { kill(pid, SIGKILL); var status: Int32 = 0; waitpid(pid, &status, 0) } }

        let base = "http://127.0.0.1:\(port)"
        var healthy = false
        for _ in 0..<100 where !healthy {
            try await Task.sleep(for: .milliseconds(100))
            healthy = (try? await Self.request("GET", base + "/healthz"))?.status == 200
        }
        try #require(healthy, "the service did not come up: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        let lease = try await Self.request("POST", base + "/v1/pools/main/leases", body: "{}")
        let token = try #require(lease.json["token"] as? String)
        _ = try await Self.request("POST", base + "/v1/leases/\(token)/query", body: #"{"sql": "BEGIN"}"#)
        let insert = try await Self.request("POST", base + "/v1/leases/\(token)/query", body: #"{"sql": "INSERT INTO t VALUES (1)"}"#)
        #expect(insert.status == 200)
        #expect(try await server.wardenBackends(database: database, atLeast: 2) >= 2, "the second connection of min: 2 never opened")

        kill(pid, SIGTERM)
        let status = try await TestPostgres.offThread { () -> Int32 in
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            return status
        }
        exited = true
        #expect(status & 0x7f == 0, "terminated by a signal")
        #expect((status >> 8) & 0xff == 0, "exit status")
        #expect(try await server.wardenBackends(database: database) == 0)
        #expect(try await server.execute("SELECT count(*) FROM t", database: database).rows == [[.int(0)]])
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(output.contains("NO CALLERS ARE CONFIGURED"))
        #expect(!output.contains(token))
    }

    struct Reply: @unchecked Sendable {
        var status: Int
        var json: [String: Any]
    }

    static func request(_ method: String, _ url: String, body: String? = nil) async throws -> Reply {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        request.timeoutInterval = 5
        if let body {
            request.httpBody = Data(body.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.tests.data(for: request)
        let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        return Reply(status: (response as? HTTPURLResponse)?.statusCode ?? 0, json: json)
    }
}
