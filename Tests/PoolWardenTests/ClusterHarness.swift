import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PoolWardenHTTP
import PoolWardenRuntime
import TestPostgres
import Testing

/// Three replicas (`a`, `b`, `c`) of the real application in this process, each on a loopback port
/// of its own, with `cluster:` configs naming one another, ServiceHarness's three callers and the
/// same pools. Each runs in a task of its own, so that a test can stop one.
final class ClusterHarness: Sendable {
    static let key = "cluster-key-0123456789abcdef0123456789abcdef"
    static let names = ["a", "b", "c"]

    struct Replica: Sendable {
        let name: String
        let port: Int
        let api: APIClient
        let registry: PoolRegistry
        let running: Task<Void, any Error>
    }

    let replicas: [String: Replica]

    private init(replicas: [String: Replica]) {
        self.replicas = replicas
    }

    /// The client of replica `name`.
    func api(_ name: String) -> APIClient { replicas[name]!.api }

    func port(_ name: String) -> Int { replicas[name]!.port }

    /// Stops replica `name`: its server closes and its pools shut down, and its port refuses
    /// connections from then on.
    func stop(_ name: String) async {
        guard let replica = replicas[name] else { return }
        replica.running.cancel()
        try? await replica.running.value
    }

    static let callers = """
          - { name: ops, role: admin, key_env: T_ADMIN_KEY }
          - { name: app, role: client, key_env: T_APP_KEY }
          - { name: other, role: client, key_env: T_OTHER_KEY }
        """

    /// `tls`: a `listen.tls` flow mapping; the peers' URLs are then `https`.
    /// `coordination`: the run's own coordination database. Slots are named by pool, so runs in
    /// parallel that share one (and a pool name) would share one cap, as two clusters would.
    static func yaml(
        replica: String, ports: [String: Int], pools: String, coordination: String, callers: String = callers, tls: String? = nil
    ) -> String {
        let scheme = tls == nil ? "http" : "https"
        let peers = names.map { "\($0): \"\(scheme)://127.0.0.1:\(ports[$0]!)\"" }.joined(separator: ", ")
        return """
        listen: { host: 127.0.0.1, port: \(ports[replica]!)\(tls.map { ", tls: \($0)" } ?? "") }
        callers:
        \(callers)
        pools:
        \(pools)
        cluster:
          replica: \(replica)
          key_env: T_CLUSTER_KEY
          peer_connect_timeout: 1s
          coordination_database: \(coordination)
          peers: { \(peers) }
        """
    }

    static func run<Value: Sendable>(
        pools: String, callers: String = callers, tls: String? = nil, _ body: @Sendable (ClusterHarness) async throws -> Value
    ) async throws -> Value {
        var ports: [String: Int] = [:]
        for name in names { ports[name] = try TestCluster.freePort() }
        var environment = ServiceHarness.environment
        environment["T_CLUSTER_KEY"] = key
        let coordination = try await TestPostgres.server().createDatabase(prefix: "coord")
        var replicas: [String: Replica] = [:]
        for name in names {
            let config = try ConfigLoader(environment: environment).load(yaml: yaml(replica: name, ports: ports, pools: pools, coordination: coordination, callers: callers, tls: tls))
            // Critical: a replica stopped by cancelling its task logs its channels' cancellation as errors.
            var logger = TestLog.logger("poolwarden-\(name)", quiet: .critical)
            logger[metadataKey: "replica"] = "\(name)"
            let (application, registry) = try buildApplication(configuration: config, logger: logger)
            let running = Task { try await application.run() }
            replicas[name] = Replica(
                name: name, port: ports[name]!, api: APIClient(client: LoopbackPort(port: ports[name]!)),
                registry: registry, running: running
            )
        }
        let harness = ClusterHarness(replicas: replicas)
        do {
            for replica in replicas.values { try await harness.waitUntilServing(replica) }
            let value = try await body(harness)
            await harness.stopAll()
            return value
        } catch {
            await harness.stopAll()
            throw error
        }
    }

    private func stopAll() async {
        for name in Self.names { await stop(name) }
    }

    private func waitUntilServing(_ replica: Replica) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            // Any answer will do: over HTTPS, a plain request is answered 400 tls_required.
            if (try? await replica.api.send(.get, "/healthz", key: nil)) != nil { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessError("replica \(replica.name) did not start within 20 s")
    }
}

/// A port to send to with `APIClient.send`, for a service not run through HummingbirdTesting.
struct LoopbackPort: TestClientProtocol {
    let port: Int?

    func executeRequest(uri: String, method: HTTPRequest.Method, headers: HTTPFields, body: ByteBuffer?) async throws -> TestResponse {
        throw HarnessError("requests to a cluster replica go through APIClient.send")
    }
}
