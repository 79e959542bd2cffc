import Foundation
import PoolCore
@testable import PoolWardenHTTP
@testable import PoolWardenRuntime
import TestPostgres
import Testing

@Suite("Status while connects fail and after they work again")
struct ConnectStatusTests {
    @Test("every state PoolCore gives a connection has its name in the API's enum")
    func everyStateOnTheWire() {
        for state in ConnectionState.allCases {
            #expect(Components.Schemas.ConnectionState(rawValue: state.rawValue) != nil, "\(state) is missing from openapi.yaml")
            #expect(Components.Schemas.ConnectionState(connectionState: state.rawValue).rawValue == state.rawValue)
        }
    }

    @Test("a slot waiting to retry shows as backoff and counts as opening; a connect that works clears last_error")
    func backoffAndLastError() async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase(prefix: "cs")
        let role = "cs_\(UUID().uuidString.prefix(8).lowercased())"
        let password = "pw-\(UUID().uuidString)"
        try await server.execute("CREATE ROLE \(role) LOGIN PASSWORD '\(password)'")
        try await server.execute("GRANT ALL ON DATABASE \(database) TO \(role)")
        let conninfo = "host=\(server.host) port=\(server.port) user=\(role) dbname=\(database)"
        // Many attempts with long delays: the slot spends nearly all its time in backoff and the
        // pool never gives up (degraded) during the test.
        let pool = ServiceHarness.pool("p", conninfo: conninfo, extra: [
            "password_env": "T_CS_PASSWORD", "min": "1", "max": "2",
            "connect_retry": "{ attempts: 100, base_delay: 400ms, max_delay: 400ms }",
        ])
        let environment = ServiceHarness.environment.merging(["T_CS_PASSWORD": password + "-wrong"]) { $1 }
        try await ServiceHarness.run(yaml: ServiceHarness.yaml(pools: pool), environment: environment) { api, _ in
            var sawBackoff = false
            var lastError: String?
            let deadline = ContinuousClock.now + .seconds(10)
            while !sawBackoff, ContinuousClock.now < deadline {
                let status = try await api.send(.get, "/v1/pools/p")
                let states = (status["connections"] as? [[String: Any]] ?? []).compactMap { $0["state"] as? String }
                #expect(!states.contains("idle"), "no connection is open, none may show as idle: \(status.text)")
                if states == ["backoff"] {
                    sawBackoff = true
                    #expect((status["counts"] as? [String: Any])?["opening"] as? Int == 1, "\(status.text)")
                    lastError = status["last_error"] as? String
                }
                if !sawBackoff { try await Task.sleep(for: .milliseconds(10)) }
            }
            #expect(sawBackoff, "a connect retry waiting out its delay shows as backoff")
            #expect(lastError?.contains("password authentication failed") == true, "\(String(describing: lastError))")

            #expect(try await api.send(.patch, "/v1/pools/p", body: #"{"password": "\#(password)"}"#).status == 200)
            var recovered: [String: Any] = [:]
            let recoveryDeadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < recoveryDeadline {
                recovered = try await api.send(.get, "/v1/pools/p").json
                if (recovered["counts"] as? [String: Any])?["idle"] as? Int == 1 { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect((recovered["counts"] as? [String: Any])?["idle"] as? Int == 1, "\(recovered)")
            #expect(recovered["last_error"] == nil || recovered["last_error"] is NSNull, "last_error stays after a connect worked: \(recovered)")
        }
    }
}
