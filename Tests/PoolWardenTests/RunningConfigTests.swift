import Foundation
import PoolWardenHTTP
import PoolWardenRuntime
import TestPostgres
import Testing

/// Runtime changes are lost at a restart: status says which pools differ from the file
/// (`source`, `drift`), and `GET /v1/config` gives the running configuration to save.
@Suite("The running configuration and its drift from the file")
struct RunningConfigTests {
    static let password = "pw-Secret-4b7c9e"

    @Test("status marks API pools and changed keys; GET /v1/config answers YAML that loads back into the running pools, secrets by name only")
    func driftAndRunningConfig() async throws {
        let server = try await TestPostgres.server()
        let environment = ServiceHarness.environment.merging(["T_MAIN_PASSWORD": Self.password]) { $1 }
        let yaml = ServiceHarness.yaml(pools: [
            ServiceHarness.pool("main", conninfo: server.conninfo(), extra: ["password_env": "T_MAIN_PASSWORD", "max": "4"]),
            ServiceHarness.pool("steady", conninfo: server.conninfo(), extra: ["max": "2", "health_check_after": "off"]),
        ].joined(separator: "\n"))
        try await ServiceHarness.run(yaml: yaml, environment: environment) { api, registry in
            var main = try await api.send(.get, "/v1/pools/main", key: ServiceHarness.adminKey)
            #expect(main["source"] as? String == "config")
            #expect(main["drift"] as? [String] == [], "\(main.text)")

            // Resize and re-password over the API; create a pool.
            let patched = try await api.send(.patch, "/v1/pools/main", key: ServiceHarness.adminKey,
                                              body: #"{"max": 6, "statement_timeout_ms": 1500, "password": "pw-Other-1f2e3d"}"#)
            #expect(patched.status == 200, "\(patched.text)")
            let created = try await api.send(.post, "/v1/pools", key: ServiceHarness.adminKey,
                                              body: #"{"name": "extra", "conninfo": "\#(server.conninfo()) password=pw-InConninfo-77", "max": 3}"#)
            #expect(created.status == 201, "\(created.text)")

            main = try await api.send(.get, "/v1/pools/main", key: ServiceHarness.adminKey)
            #expect(main["source"] as? String == "config")
            #expect(main["drift"] as? [String] == ["password_env", "max", "statement_timeout"], "\(main.text)")
            let extra = try await api.send(.get, "/v1/pools/extra", key: ServiceHarness.adminKey)
            #expect(extra["source"] as? String == "api")
            #expect(extra["drift"] as? [String] == [])
            let list = try await api.send(.get, "/v1/pools", key: ServiceHarness.adminKey)
            let listed = (list["pools"] as? [[String: Any]] ?? []).map { "\($0["name"] ?? "")=\($0["source"] ?? "")" }
            #expect(listed == ["extra=api", "main=config", "steady=config"], "\(list.text)")

            // Admins only.
            #expect(try await api.send(.get, "/v1/config", key: ServiceHarness.appKey).status == 403)
            #expect(try await api.send(.get, "/v1/config", key: nil).status == 401)
            let config = try await api.send(.get, "/v1/config", key: ServiceHarness.adminKey)
            #expect(config.status == 200)
            #expect(config.contentType?.hasPrefix("application/yaml") == true, "\(config.contentType ?? "none")")
            for secret in [Self.password, "pw-Other-1f2e3d", "pw-InConninfo-77", ServiceHarness.adminKey, ServiceHarness.appKey] {
                #expect(!config.text.contains(secret), "a secret in GET /v1/config")
            }
            #expect(config.text.contains("key_env: T_ADMIN_KEY"))
            #expect(config.text.contains("a password was set over the API"), "\(config.text)")

            // Saved and loaded with the same environment, it gives the pools that run now (the
            // passwords set over the API aside, which the file names no variable for).
            let loaded = try ConfigLoader(environment: environment).load(yaml: config.text)
            var running = registry.runningSettings()
            for index in running.indices {
                running[index].password = running[index].passwordEnv.flatMap { environment[$0] }
                // Only extra's conninfo held a password, which comes back masked.
                if running[index].name == "extra" {
                    running[index].conninfo = loaded.pools.first { $0.name == "extra" }?.conninfo ?? ""
                }
            }
            #expect(loaded.pools.map(\.name) == ["extra", "main", "steady"])
            #expect(loaded.pools == running)
            #expect(loaded.pools.first { $0.name == "extra" }?.conninfo.contains("password=***") == true)
            #expect(loaded.pools.first { $0.name == "main" }?.max == 6)
            #expect(loaded.pools.first { $0.name == "steady" }?.healthCheckAfter == nil)
            #expect(try loaded.callers == registryCallers(environment))
        }
    }

    /// The callers `ServiceHarness.yaml` configures, as the loader reads them.
    private func registryCallers(_ environment: [String: String]) throws -> [CallerConfig] {
        try ConfigLoader(environment: environment).load(yaml: ServiceHarness.yaml(pools: "  []")).callers
    }
}
