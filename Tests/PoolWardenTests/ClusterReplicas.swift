import Foundation
import PostgresLibPQ
import TestPostgres
#if canImport(Glibc)
import Glibc
#endif

/// N `poolwarden serve` processes on loopback ports, configured as one cluster against the test
/// PostgreSQL, each with its own log; killed (SIGKILL) and reaped when the test ends. The
/// coordination database is one of the test's own, so that the slots of parallel tests never meet.
final class ClusterReplicas: @unchecked Sendable {
    static let keyVariable = "POOLWARDEN_TEST_CLUSTER_KEY"
    static let key = "test-cluster-key-0123456789abcdefghijklmnop"

    let names: [String]
    let ports: [Int]
    let directory: String
    let coordinationDatabase: String
    private(set) var pids: [pid_t?]

    /// `body`: the config's sections after `listen` and `cluster` (pools, servers, callers).
    /// `coordination`: the coordination database; nil makes a fresh one.
    init(count: Int, server: TestServer, body: String, coordination: String? = nil) async throws {
        setenv(Self.keyVariable, Self.key, 1)
        names = (0..<count).map { "r\($0)" }
        ports = try (0..<count).map { _ in try TestCluster.freePort() }
        directory = NSTemporaryDirectory() + "pw-cluster-\(UUID().uuidString)"
        if let coordination {
            coordinationDatabase = coordination
        } else {
            coordinationDatabase = try await server.createDatabase(prefix: "coord")
        }
        pids = Array(repeating: nil, count: count)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let peers = zip(names, ports).map { "    \($0): http://127.0.0.1:\($1)" }.joined(separator: "\n")
        for index in 0..<count {
            try """
                listen: { host: 127.0.0.1, port: \(ports[index]) }
                log_level: info
                cluster:
                  replica: \(names[index])
                  key_env: \(Self.keyVariable)
                  coordination_database: \(coordinationDatabase)
                  peers:
                \(peers)
                \(body)
                """.write(toFile: config(index), atomically: true, encoding: .utf8)
        }
        for index in 0..<count { try start(index) }
        for index in 0..<count { try await waitHealthy(index) }
    }

    func config(_ index: Int) -> String { "\(directory)/\(names[index]).yaml" }
    func log(_ index: Int) -> String { "\(directory)/\(names[index]).log" }
    func url(_ index: Int) -> String { "http://127.0.0.1:\(ports[index])" }

    func start(_ index: Int) throws {
        pids[index] = try TestCluster.spawn(ServeProcessTests.binary, ["serve", "--config", config(index)], outputPath: log(index))
    }

    func waitHealthy(_ index: Int) async throws {
        for _ in 0..<150 {
            if (try? await ServeProcessTests.request("GET", "\(url(index))/healthz"))?.status == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ReplicaFailure(description: "replica \(names[index]) did not come up: \(logText(index))")
    }

    /// SIGKILL: no goodbye to anyone, as a crashed process or a deleted pod.
    func kill(_ index: Int) {
        guard let pid = pids[index] else { return }
        Glibc.kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        pids[index] = nil
    }

    func stopAll() {
        for index in pids.indices { kill(index) }
        try? FileManager.default.removeItem(atPath: directory)
    }

    func logText(_ index: Int) -> String {
        (try? String(contentsOfFile: log(index), encoding: .utf8)) ?? ""
    }

    /// `GET /v1/pools/{pool}` at replica `index`: the pool's status there.
    func pool(_ pool: String, at index: Int) async throws -> [String: Any] {
        try await ServeProcessTests.request("GET", "\(url(index))/v1/pools/\(pool)").json
    }
}

struct ReplicaFailure: Error, CustomStringConvertible {
    let description: String
}
