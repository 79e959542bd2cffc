import Foundation
import PoolWardenHTTP
import PoolWardenRuntime
import TestPostgres
import Testing

/// JSON answers come with their keys in one order, whatever the process: sorted for the generated
/// routes and problems (Foundation's encoder would otherwise write them in hash order, which
/// differs between runs), declaration order for the hand-written `GET /v1/pools`.
@Suite("JSON keys come out in a stable order")
struct JSONKeyOrderTests {
    /// Where each key first appears in `text`, in the order given; fails if one is missing.
    static func positions(of keys: [String], in text: String) -> [Int] {
        keys.map { key in text.range(of: "\"\(key)\":").map { text.distance(from: text.startIndex, to: $0.lowerBound) } ?? -1 }
    }

    @Test("a query answer, a problem and a pool's status have their keys sorted")
    func sortedKeys() async throws {
        let server = try await TestPostgres.server()
        // `idle` stays without connections, so that its status's first "state" is its own.
        let yaml = ServiceHarness.yaml(pools: [
            ServiceHarness.pool("main", conninfo: server.conninfo()), ServiceHarness.pool("idle", conninfo: server.conninfo()),
        ].joined(separator: "\n"))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let answer = try await api.send(.post, "/v1/pools/main/query", key: ServiceHarness.appKey, body: #"{"sql": "SELECT 1 AS one"}"#)
            let queryKeys = ["columns", "command", "elapsed_ms", "row_count", "rows"]
            let queryAt = Self.positions(of: queryKeys, in: answer.text)
            #expect(!queryAt.contains(-1) && queryAt == queryAt.sorted(), "\(answer.text)")

            let problem = try await api.send(.get, "/v1/pools/nope", key: ServiceHarness.adminKey)
            let problemAt = Self.positions(of: ["code", "detail", "status", "title", "type"], in: problem.text)
            #expect(!problemAt.contains(-1) && problemAt == problemAt.sorted(), "\(problem.text)")

            let status = try await api.send(.get, "/v1/pools/idle", key: ServiceHarness.adminKey)
            let statusAt = Self.positions(of: ["connections", "counts", "drift", "limits", "name", "settings", "source", "state", "totals"], in: status.text)
            #expect(!statusAt.contains(-1) && statusAt == statusAt.sorted(), "\(status.text)")
        }
    }
}
