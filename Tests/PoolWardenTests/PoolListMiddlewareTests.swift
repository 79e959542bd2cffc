import Foundation
@testable import PoolWardenHTTP
@testable import PoolWardenRuntime
import TestPostgres
import Testing

/// `GET /v1/pools` is answered by `PoolListMiddleware` with `StreamingJSONEncoder`; it must say
/// exactly what the generated handler (Foundation's `JSONEncoder`) says.
@Suite("HTTP: the pool list's fast path answers as the generated handler does")
struct PoolListMiddlewareTests {
    @Test("the fast answer equals the generated one, for an admin and for a client with grants")
    func sameAsGenerated() async throws {
        let server = try await TestPostgres.server()
        let deadPort = 1  // refused at once; no test can take it, as one could take a port found free
        let pools = [
            ServiceHarness.pool("main", conninfo: server.conninfo(), extra: ["max_per_caller": "2"]),
            ServiceHarness.pool("other", conninfo: server.conninfo(), extra: ["statement_timeout": "0", "application_name_tagging": "false"]),
            ServiceHarness.pool("down", conninfo: "host=127.0.0.1 port=\(deadPort) user=nobody password=s3cr3t", extra: ["connect_retry": "{ attempts: 1, base_delay: 10ms, max_delay: 60s }"]),
        ].joined(separator: "\n")
        try await ServiceHarness.run(yaml: ServiceHarness.yaml(pools: pools, callerPools: ", pools: [main, down]")) { api, _ in
            // A last_error with quotes and a colon in it, from a refused connect; the degraded pool
            // probes again only after max_delay, so its totals hold still between the two answers.
            #expect(try await api.send(.post, "/v1/pools/down/query", key: ServiceHarness.adminKey, body: #"{"sql": "SELECT 1"}"#).status == 502)
            for key in [ServiceHarness.adminKey, ServiceHarness.appKey] {
                let fast = try await api.send(.get, "/v1/pools", key: key)
                // A query string sends the request on to the generated handler.
                let generated = try await api.send(.get, "/v1/pools?via=generated", key: key)
                #expect(fast.status == 200)
                #expect(generated.status == 200)
                #expect(fast.contentType == generated.contentType)
                let fastPools = try #require(fast["pools"] as? [[String: Any]])
                let generatedPools = try #require(generated["pools"] as? [[String: Any]])
                #expect(fastPools.count == (key == ServiceHarness.adminKey ? 3 : 2))
                #expect(NSArray(array: fastPools).isEqual(to: generatedPools), "\(fast.text)\n\(generated.text)")
                #expect(!fast.text.contains("s3cr3t"))
            }
            let error = (try await api.send(.get, "/v1/pools", key: ServiceHarness.adminKey)["pools"] as? [[String: Any]])?
                .first { $0["name"] as? String == "down" }?["last_error"] as? String
            #expect(error?.contains("\"") == true, "the escaped quotes round-trip")
            // Errors stay the generated handler's.
            #expect(try await api.send(.get, "/v1/pools", key: nil).status == 401)
            #expect(try await api.send(.get, "/v1/pools", key: "wrong").code == "unauthorized")
        }
    }

    @Test("StreamingJSONEncoder writes what JSONEncoder writes")
    func encoderAgreesWithFoundation() throws {
        struct Inner: Codable, Equatable {
            var text: String
            var number: Double
            var flags: [Bool]
            var absent: Int?
        }
        struct Outer: Codable, Equatable {
            var name: String
            var count: Int
            var nested: [Inner]
            var empty: [Inner]
            var maybe: String?
            var state: Components.Schemas.PoolState
        }
        let value = Outer(
            name: "quote \" backslash \\ newline \n tab \t bell \u{7} é 日本 🐘 slash /",
            count: -42,
            nested: [Inner(text: "", number: 1.5, flags: [true, false], absent: nil), Inner(text: "x", number: -0.001, flags: [], absent: 7)],
            empty: [],
            maybe: nil,
            state: .degraded
        )
        let fast = try StreamingJSONEncoder().encode(value)
        #expect(try JSONDecoder().decode(Outer.self, from: Data(fast)) == value)
        let foundation = try JSONEncoder().encode(value)
        let a = try JSONSerialization.jsonObject(with: Data(fast)) as? NSDictionary
        let b = try JSONSerialization.jsonObject(with: foundation) as? NSDictionary
        #expect(a == b)
        #expect(!String(decoding: fast, as: UTF8.self).contains("maybe"), "a nil optional is left out, as encodeIfPresent does")
    }
}
