import Foundation
import HTTPTypes
import PoolWardenHTTP
import PoolWardenRuntime
import TestPostgres
import Testing

/// One view of three replicas (`GET /v1/pools?scope=cluster`, `poolwarden status --cluster`) and
/// operators' changes made at one replica reaching all (issue 16, item 4).
@Suite("Cluster: one view, and changes that reach every replica")
struct ClusterViewTests {
    static let replicasHeader = HTTPField.Name("PoolWarden-Replicas")!

    static func pools(_ server: TestServer) -> String {
        ServiceHarness.pool("main", conninfo: server.conninfo(), extra: ["max": "4"])
    }

    static func pool(_ answer: APIClient.Answer, _ name: String) -> [String: Any]? {
        (answer["pools"] as? [[String: Any]])?.first { $0["name"] as? String == name }
    }

    @Test("scope=cluster sums every replica's counts, names each row's replica, and lists a stopped replica as unreachable")
    func mergedView() async throws {
        let server = try await TestPostgres.server()
        try await ClusterHarness.run(pools: Self.pools(server)) { cluster in
            let atA = try await cluster.api("a").borrow("main")
            let atC = try await cluster.api("c").borrow("main")
            let view = try await cluster.api("b").send(.get, "/v1/pools?scope=cluster", key: ServiceHarness.adminKey)
            #expect(view.status == 200, "\(view.text)")
            let main = try #require(Self.pool(view, "main"))
            #expect((main["counts"] as? [String: Any])?["leased"] as? Int == 2)
            #expect(main["replicas"] as? [String] == ["a", "b", "c"])
            let rows = main["connections"] as? [[String: Any]] ?? []
            let holders = rows.filter { $0["token_prefix"] is String }.map { "\($0["replica"] ?? "-")=\($0["token_prefix"] ?? "-")" }.sorted()
            #expect(holders == ["a=\(LeaseToken.displayPrefix(atA))", "c=\(LeaseToken.displayPrefix(atC))"])
            let replicas = view["replicas"] as? [[String: Any]] ?? []
            #expect(replicas.map { "\($0["name"] as? String ?? "")=\($0["reachable"] as? Bool ?? false)" } == ["a=true", "b=true", "c=true"])

            let leases = try await cluster.api("b").send(.get, "/v1/pools/main/leases?scope=cluster", key: ServiceHarness.adminKey)
            #expect(leases.status == 200, "\(leases.text)")
            let leaseRows = (leases["leases"] as? [[String: Any]] ?? []).map { "\($0["replica"] ?? "-")=\($0["token_prefix"] ?? "-")" }.sorted()
            #expect(leaseRows == holders)
            let ownOnly = try await cluster.api("b").send(.get, "/v1/pools/main/leases?scope=cluster", key: ServiceHarness.otherKey)
            #expect(ownOnly.status == 200 && (ownOnly["leases"] as? [Any])?.isEmpty == true)

            // The local view keeps its shape: no replica members.
            let local = try await cluster.api("b").send(.get, "/v1/pools", key: ServiceHarness.adminKey)
            #expect(local["replicas"] == nil && (Self.pool(local, "main")?["counts"] as? [String: Any])?["leased"] as? Int == 0)
            // A client sees its own view of every replica, and no more than at one.
            let client = try await cluster.api("b").send(.get, "/v1/pools?scope=cluster", key: ServiceHarness.otherKey)
            #expect(client.status == 200 && Self.pool(client, "main") != nil)
            #expect(try await cluster.api("b").send(.get, "/v1/pools?scope=cluster", key: "wrong-key-0123456789").status == 401)

            await cluster.stop("a")
            let started = ContinuousClock.now
            let partial = try await cluster.api("b").send(.get, "/v1/pools?scope=cluster", key: ServiceHarness.adminKey)
            // Each peer has 2 s, all at once; the rest is slack for a busy machine.
            #expect(ContinuousClock.now - started < .seconds(5))
            let listed = partial["replicas"] as? [[String: Any]] ?? []
            let stopped = try #require(listed.first { $0["name"] as? String == "a" })
            #expect(stopped["reachable"] as? Bool == false && stopped["error"] is String)
            #expect(listed.count == 3)
            #expect(Self.pool(partial, "main")?["replicas"] as? [String] == ["b", "c"])

            let status = try await CLIClientTests.cli(["status", "--cluster", "-v"], port: cluster.port("b"), key: ServiceHarness.adminKey)
            #expect(status.status == 0, "\(status)")
            #expect(CLIClientTests.row("a", in: status.stdout)?.contains("unreachable") == true, "\(status)")
            #expect(CLIClientTests.row("c", in: status.stdout)?.contains("included") == true, "\(status)")
            #expect(status.stdout.contains("REPLICA"))
            let leaseList = try await CLIClientTests.cli(["leases", "main", "--cluster"], port: cluster.port("b"), key: ServiceHarness.adminKey)
            #expect(leaseList.status == 0 && leaseList.stderr.contains("warning: leases missing from replicas: a"), "\(leaseList)")
            #expect(CLIClientTests.row(LeaseToken.displayPrefix(atC), in: leaseList.stdout)?[1] == "c", "\(leaseList)")
        }
    }

    @Test("resize, pause, resume, recycle, create, delete and revoke made at B reach A and C, each replica's outcome in PoolWarden-Replicas")
    func adminBroadcast() async throws {
        let server = try await TestPostgres.server()
        try await ClusterHarness.run(pools: Self.pools(server)) { cluster in
            let resized = try await cluster.api("b").send(.patch, "/v1/pools/main", body: #"{"max": 6}"#)
            #expect(resized.status == 200 && resized.headers[Self.replicasHeader] == "b=200, a=200, c=200", "\(resized.headers)")
            for name in ["a", "c"] {
                let pool = try await cluster.api(name).send(.get, "/v1/pools/main")
                #expect((pool["limits"] as? [String: Any])?["max"] as? Int == 6, "replica \(name)")
            }
            #expect(try await cluster.api("b").send(.post, "/v1/pools/main/pause")["state"] as? String == "paused")
            #expect(try await cluster.api("c").send(.get, "/v1/pools/main")["state"] as? String == "paused")
            #expect(try await cluster.api("b").send(.post, "/v1/pools/main/resume").headers[Self.replicasHeader] == "b=200, a=200, c=200")
            #expect(try await cluster.api("a").send(.get, "/v1/pools/main")["state"] as? String == "running")
            let recycled = try await cluster.api("b").send(.post, "/v1/pools/main/recycle", body: #"{"mode": "graceful"}"#)
            #expect(recycled.status == 200 && recycled.headers[Self.replicasHeader] == "b=200, a=200, c=200")

            let create = #"{"name": "extra", "conninfo": "\#(server.conninfo())", "max": 2}"#
            #expect(try await cluster.api("c").send(.post, "/v1/pools", body: create).headers[Self.replicasHeader] == "c=201, a=201, b=201")
            #expect(try await cluster.api("a").send(.get, "/v1/pools/extra").status == 200)
            let again = try await cluster.api("c").send(.post, "/v1/pools", body: create)
            #expect(again.status == 409 && again.headers[Self.replicasHeader] == "c=409, a=409 pool_exists, b=409 pool_exists")
            #expect(try await cluster.api("b").send(.delete, "/v1/pools/extra").status == 204)
            #expect(try await cluster.api("a").send(.get, "/v1/pools/extra").status == 404)

            // A lease held at A, revoked by its prefix at B: A's answer stands for the cluster's.
            let token = try await cluster.api("a").borrow("main")
            let revoked = try await cluster.api("b").send(.delete, "/v1/pools/main/leases/\(LeaseToken.displayPrefix(token))")
            #expect(revoked.status == 200 && revoked["caller"] as? String == "app", "\(revoked.text)")
            #expect(revoked.headers[Self.replicasHeader] == "b=404, a=200, c=404")
            let gone = try await cluster.api("c").query(token, "SELECT 1")
            #expect(gone.status == 410 && gone["reason"] as? String == "revoked")
            let unknown = try await cluster.api("b").send(.delete, "/v1/pools/main/leases/\(LeaseToken.displayPrefix(token))")
            #expect(unknown.status == 404 && unknown.code == "lease_not_found")
            // A prefix shared by leases at two replicas revokes neither. Tokens share their first
            // random character one time in 64: borrow at C until one does.
            let atA = try await cluster.api("a").borrow("main")
            let shared = String(atA.prefix(5))
            var atC = try await cluster.api("c").borrow("main")
            for _ in 0..<1000 where !atC.hasPrefix(shared) {
                try await cluster.api("c").send(.delete, "/v1/leases/\(atC)", key: ServiceHarness.appKey)
                atC = try await cluster.api("c").borrow("main")
            }
            try #require(atC.hasPrefix(shared))
            let ambiguous = try await cluster.api("b").send(.delete, "/v1/pools/main/leases/\(shared)")
            #expect(ambiguous.status == 409 && ambiguous.code == "ambiguous_prefix", "\(ambiguous.text)")
            #expect(try await cluster.api("b").query(atA, "SELECT 1").status == 200)
            #expect(try await cluster.api("b").query(atC, "SELECT 1").status == 200)

            // Refused here, refused everywhere: nothing is sent on.
            let forbidden = try await cluster.api("b").send(.patch, "/v1/pools/main", key: ServiceHarness.appKey, body: #"{"max": 1}"#)
            #expect(forbidden.status == 403 && forbidden.headers[Self.replicasHeader] == nil)
            await cluster.stop("c")
            let partial = try await cluster.api("b").send(.patch, "/v1/pools/main", body: #"{"max": 5}"#)
            #expect(partial.status == 200 && partial.headers[Self.replicasHeader] == "b=200, a=200, c=unreachable")
        }
    }
}
