import Foundation
import Testing

@testable import PoolWardenHTTP
@testable import PoolWardenRuntime

@Suite("Config: deploy/poolwarden.example.yaml")
struct ConfigExampleFileTests {
    static let path = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("deploy/poolwarden.example.yaml").path

    static let environment = [
        "POOLWARDEN_OPS_KEY": "ops-secret-key-0123456789",
        "REPORT_KEY": "report-key-abcdef0123456789",
        "BILLING_PG_PASSWORD": "billing-password",
        "ANALYTICS_PG_PASSWORD": "analytics-password",
    ]

    @Test("the example parses, with every key set to what its comment says")
    func parses() throws {
        let config = try ConfigLoader(environment: Self.environment).load(file: Self.path)
        #expect(config.listen == ListenAddress(host: "127.0.0.1", port: 8080))
        #expect(config.requestTimeout == .seconds(10))
        #expect(config.maxClientConnections == 10_000)
        #expect(config.callers.map(\.identity) == [
            CallerIdentity(name: "ops", role: .admin),
            CallerIdentity(name: "nightly-report", role: .client, pools: ["billing"]),
            CallerIdentity(name: "dashboard", role: .client, pools: ["billing", "analytics"]),
        ])
        #expect(config.pools.map(\.name) == ["billing", "analytics"])
        let billing = config.pools[0]
        #expect(billing.password == "billing-password")
        #expect((billing.min, billing.max, billing.maxPerCaller) == (2, 20, 5))
        #expect(billing.leaseTTL == .seconds(60))
        #expect(billing.borrowTimeout == .seconds(5))
        #expect(billing.maxLifetime == .seconds(1800))
        #expect(billing.idleTimeout == .seconds(300))
        #expect(billing.healthCheckAfter == .seconds(30))
        #expect(billing.statementTimeout == .seconds(30))
        #expect(billing.maxStatementTimeout == .seconds(600))
        #expect(billing.connectRetry == ConnectRetrySettings(attempts: 5, baseDelay: .milliseconds(200), maxDelay: .seconds(5)))
        #expect(billing.applicationNameTagging)
        #expect(billing.reset == .discardAll)
        #expect(billing.resetStatement == "SET search_path = billing, public")
        #expect(billing.maxResultRows == 100_000)
        #expect(billing.maxResultBytes == 64 << 20)

        var analytics = PoolSettings(name: "analytics", conninfo: "postgresql://reader@db2:5432/analytics", password: "analytics-password")
        analytics.passwordEnv = "ANALYTICS_PG_PASSWORD"
        analytics.max = 8
        #expect(config.pools[1] == analytics)

        #expect(config.servers == [ServerBudgetSettings(host: "db1", port: 5432, maxConnections: 40)])
        #expect(config.shutdownGrace == .seconds(10))
        #expect(config.maxBodyBytes == 1 << 20)
        #expect(config.logLevel == .info)
    }

    static let tlsPath = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("poolwarden-tls.example.yaml").path

    @Test("the TLS example parses with its files in place: HTTPS, client certificates, callers by subject")
    func tlsExample() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let server = try await certificates.issued("server", subject: "/CN=localhost", server: true)
        let text = try String(contentsOfFile: Self.tlsPath, encoding: .utf8)
            .replacingOccurrences(of: "/etc/poolwarden-tls/tls.crt", with: server.certificate)
            .replacingOccurrences(of: "/etc/poolwarden-tls/tls.key", with: server.key)
            .replacingOccurrences(of: "/etc/poolwarden-tls/ca.crt", with: certificates.authority)
        let environment = Self.environment.merging(["DEPLOYER_KEY": "deployer-key-0123456789"]) { $1 }
        let config = try ConfigLoader(environment: environment).load(yaml: text)
        #expect(config.tls == ListenTLS(certificateFile: server.certificate, keyFile: server.key, clientCAFile: certificates.authority))
        #expect(config.callers.map(\.certificateSubject?.description) == [nil, "CN=nightly-report,O=Example Corp", "CN=deployer,O=Example Corp"])
        #expect(config.callers.map(\.keys.count) == [1, 0, 1])
        try ServerTLS.validate(#require(config.tls))
    }

    static let clusterPath = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("poolwarden.cluster.yaml").path

    @Test("the examples use every key the loader knows")
    func everyKey() throws {
        // cluster: is used in the replicas' example only: in poolwarden.example.yaml it would make
        // that config one replica of a cluster.
        let kubernetes = URL(fileURLWithPath: Self.path).deletingLastPathComponent().appendingPathComponent("kubernetes/cluster/configmap.yaml").path
        let text = try [Self.path, Self.tlsPath, Self.clusterPath, kubernetes].map { try String(contentsOfFile: $0, encoding: .utf8) }.joined(separator: "\n")
        // replica is left to the host name in both cluster examples: one file serves every replica.
        let keys = ConfigDecoder.topKeys + ConfigDecoder.listenKeys + ConfigDecoder.callerKeys + ConfigDecoder.poolKeys
            + ConfigDecoder.retryKeys + ConfigDecoder.serverKeys + ConfigDecoder.tlsKeys
            + ConfigDecoder.clusterKeys.filter { $0 != "replica" } + ConfigDecoder.peersDNSKeys
        for key in Set(keys) {
            let used = text.split(separator: "\n").contains { line in
                let code = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
                return code.contains("\(key):")
            }
            #expect(used, "\(key) is not used in the examples")
        }
    }

    @Test("without its environment variables the example is refused, naming each one")
    func needsEnvironment() {
        let problems: [String]
        do throws(ConfigError) {
            _ = try ConfigLoader(environment: [:]).load(file: Self.path)
            problems = []
        } catch {
            problems = error.problems.map(\.message)
        }
        #expect(problems.sorted() == [
            "environment variable ANALYTICS_PG_PASSWORD is not set",
            "environment variable BILLING_PG_PASSWORD is not set",
            "environment variable POOLWARDEN_OPS_KEY is not set",
            "environment variable REPORT_KEY is not set",
        ])
    }
}
