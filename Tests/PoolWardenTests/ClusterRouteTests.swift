import Foundation
import PoolWardenCluster
import PoolWardenRuntime
import Testing

/// Where a replica answers a request (`ClusterRoute`) and how replicas' views merge
/// (`ClusterView`), without a network.
@Suite("Cluster: routes and the merged view")
struct ClusterRouteTests {
    static let settings = ClusterSettings(
        replica: "b",
        peers: [.init(name: "a", url: "http://10.0.0.1:8080"), .init(name: "b", url: "http://10.0.0.2:8080"), .init(name: "c", url: "http://10.0.0.3:8080")],
        keyVariable: "K", key: String(repeating: "k", count: 32)
    )
    static let random = "pwl_" + String(repeating: "A", count: 43)

    @Test("lease routes go to the owner named in the token; local, malformed and single-service tokens stay here")
    func leaseRoutes() {
        let owner = Self.settings.peers[0]
        for suffix in ["", "/query", "/renew", "/batch"] {
            #expect(Self.settings.route(method: "POST", path: "/v1/leases/\(Self.random).a\(suffix)", query: nil) == .forward(owner))
        }
        #expect(Self.settings.route(method: "DELETE", path: "/v1/leases/\(Self.random).a", query: nil) == .forward(owner))
        #expect(Self.settings.route(method: "GET", path: "/v1/leases/\(Self.random).b", query: nil) == .local)
        #expect(Self.settings.route(method: "GET", path: "/v1/leases/\(Self.random)", query: nil) == .local)
        #expect(Self.settings.route(method: "GET", path: "/v1/leases/pwl_short.a", query: nil) == .local)
        #expect(Self.settings.route(method: "GET", path: "/v1/leases/\(Self.random).a/other", query: nil) == .local)
        #expect(Self.settings.route(method: "GET", path: "/v1/leases/\(Self.random).zz", query: nil) == .ownerUnknown(replica: "zz"))
    }

    @Test("pool changes are broadcast, revokes too, the cluster view only when asked for")
    func poolRoutes() {
        #expect(Self.settings.route(method: "GET", path: "/v1/pools", query: nil) == .local)
        #expect(Self.settings.route(method: "GET", path: "/v1/pools", query: "scope=local") == .local)
        #expect(Self.settings.route(method: "GET", path: "/v1/pools", query: "scope=cluster") == .view(.pools))
        #expect(Self.settings.route(method: "GET", path: "/v1/pools/main/leases", query: "scope=cluster") == .view(.leases))
        #expect(Self.settings.route(method: "GET", path: "/v1/pools/main/leases", query: nil) == .local)
        #expect(ClusterSettings.localTarget(path: "/v1/pools", query: "scope=cluster") == "/v1/pools")
        #expect(ClusterSettings.localTarget(path: "/v1/pools/x/leases", query: "a=1&scope=cluster") == "/v1/pools/x/leases?a=1")
        #expect(Self.settings.route(method: "POST", path: "/v1/pools", query: nil) == .broadcast)
        #expect(Self.settings.route(method: "PATCH", path: "/v1/pools/main", query: nil) == .broadcast)
        #expect(Self.settings.route(method: "DELETE", path: "/v1/pools/main", query: nil) == .broadcast)
        for action in ["pause", "resume", "recycle"] {
            #expect(Self.settings.route(method: "POST", path: "/v1/pools/main/\(action)", query: nil) == .broadcast)
        }
        #expect(Self.settings.route(method: "DELETE", path: "/v1/pools/main/leases/pwl_abcdefgh", query: nil) == .revoke)
        #expect(Self.settings.route(method: "POST", path: "/v1/pools/main/leases", query: nil) == .local)
        #expect(Self.settings.route(method: "POST", path: "/v1/pools/main/query", query: nil) == .local)
        #expect(Self.settings.route(method: "GET", path: "/v1/pools/main", query: nil) == .local)
        #expect(Self.settings.route(method: "POST", path: "/v1/reload", query: nil) == .local)
    }

    @Test("the merged view sums counts and totals, tags rows with their replica and lists every replica")
    func merge() throws {
        func list(_ leased: Int, rows: String) -> [UInt8] {
            Array(#"""
            {"pools": [{"name": "main", "state": "running", "limits": {"min": 0, "max": 4, "max_per_caller": 4},
              "counts": {"open": \#(leased), "idle": 0, "leased": \#(leased), "opening": 0, "waiting": 0},
              "totals": {"borrows": 5, "closed": 1}, "last_error": null, "connections": [\#(rows)]}],
             "servers": [{"server": "db:5432", "open": \#(leased), "max": 10, "pools": ["main"]}]}
            """#.utf8)
        }
        let merged = ClusterView.merge([
            .init(replica: "a", answer: .success(list(1, rows: #"{"id": 1, "state": "leased"}"#))),
            .init(replica: "b", answer: .success(list(2, rows: #"{"id": 1, "state": "leased"}, {"id": 2, "state": "leased"}"#))),
            .init(replica: "c", answer: .failure(PeerFailure(reachable: false, "connect timed out"))),
        ])
        let view = try #require(try JSONSerialization.jsonObject(with: Data(merged)) as? [String: Any])
        let pool = try #require((view["pools"] as? [[String: Any]])?.first)
        #expect((pool["counts"] as? [String: Any])?["leased"] as? Int == 3)
        #expect((pool["totals"] as? [String: Any])?["borrows"] as? Int == 10)
        #expect((pool["limits"] as? [String: Any])?["max"] as? Int == 4)
        #expect((pool["connections"] as? [[String: Any]])?.compactMap { $0["replica"] as? String } == ["a", "b", "b"])
        #expect(pool["replicas"] as? [String] == ["a", "b"])
        #expect((view["servers"] as? [[String: Any]])?.first?["open"] as? Int == 3)
        let replicas = view["replicas"] as? [[String: Any]] ?? []
        #expect(replicas.map { $0["name"] as? String } == ["a", "b", "c"])
        #expect(replicas.map { $0["reachable"] as? Bool } == [true, true, false])
        #expect(replicas[2]["error"] as? String == "connect timed out")
    }

    @Test("figures a broken peer sends that would overflow saturate instead of trapping the replica that asked")
    func mergeOverflow() throws {
        let huge = Array(#"{"pools": [], "servers": [{"server": "db:5432", "open": 9223372036854775807, "max": 1, "pools": []}]}"#.utf8)
        let merged = ClusterView.merge([.init(replica: "a", answer: .success(huge)), .init(replica: "b", answer: .success(huge))])
        let view = try #require(try JSONSerialization.jsonObject(with: Data(merged)) as? [String: Any])
        #expect((view["servers"] as? [[String: Any]])?.first?["open"] as? Int == Int.max)
    }

    @Test("the cluster key is accepted exactly; the subject a peer carries reads back as the same subject")
    func keyAndSubject() throws {
        let client = try PeerClient(settings: Self.settings, tls: nil, maxConnections: 100, logger: .init(label: "test"))
        #expect(client.accepts(key: Self.settings.key))
        #expect(!client.accepts(key: Self.settings.key + "k"))
        #expect(!client.accepts(key: ""))
        let subject = try CertificateSubject(parsing: "CN=réporting\\, daily+OU=ops,O=Acme")
        #expect(ClusterHeader.decodeSubject(ClusterHeader.encode(subject: subject)) == subject)
        #expect(ClusterHeader.decodeSubject("not base64!") == nil)
    }
}
