import Foundation
import Testing
import TestPostgres

@Suite("Every secret conninfo keyword is redacted")
struct SecretRedactionTests {
    @Test("sslpassword in key/value and URI conninfos (percent-encoded names too) never shows in status, POST answers or logs")
    func sslpasswordIsRedacted() async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase(prefix: "sr")
        let secret = "ssl-SECRET-\(UUID().uuidString)"
        let base = server.conninfo(database: database)
        let uri = "postgresql://\(server.user)@\(server.host):\(server.port)/\(database)"
        let pools = [
            ServiceHarness.pool("kv", conninfo: base + " sslpassword=\(secret)"),
            ServiceHarness.pool("quoted", conninfo: base + " sslpassword = '\(secret) x'"),
            ServiceHarness.pool("uri", conninfo: uri + "?sslpassword=\(secret)&sslmode=disable"),
            ServiceHarness.pool("encoded", conninfo: uri + "?ssl%70assword=\(secret)"),
        ].joined(separator: "\n")
        let capture = LogCapture()
        let seen = LogCapture()
        try await AccessMatrixTests.run(yaml: ServiceHarness.yaml(pools: pools), environment: [:], capture: capture) { api in
            for pool in ["kv", "quoted", "uri", "encoded"] {
                let status = try await api.send(.get, "/v1/pools/\(pool)")
                #expect(status.status == 200)
                seen.append(status.text)
                let conninfo = (status["settings"] as? [String: Any])?["conninfo"] as? String
                #expect(conninfo?.contains("***") == true, "\(pool): \(String(describing: conninfo))")
                #expect(try await api.send(.post, "/v1/pools/\(pool)/query", key: ServiceHarness.appKey, body: #"{"sql": "SELECT 1"}"#).status == 200)
            }
            let made = try await api.send(.post, "/v1/pools", body: #"{"name": "made", "conninfo": "\#(base) sslpassword=\#(secret)"}"#)
            seen.append(made.text)
            seen.append(try await api.send(.get, "/v1/pools").text)
        }
        #expect(capture.text.contains("pool added"))
        for text in [capture.text] + seen.all {
            #expect(!text.contains("SECRET"), "a secret shows: \(text.prefix(400))")
        }
    }
}
