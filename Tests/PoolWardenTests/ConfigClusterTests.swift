import Testing
@testable import PoolWardenRuntime

/// `cluster:` (issue 16, item 1): what the file must say for replicas to agree, refused by field.
@Suite("Config: cluster")
struct ConfigClusterTests {
    static let key = String(repeating: "k", count: 40)
    static let environment = ["CLUSTER_KEY": key, "SHORT_KEY": "short"]

    static func load(_ cluster: String) throws -> WardenConfig {
        try ConfigLoader(environment: environment).load(yaml: "cluster:\n" + cluster)
    }

    @Test("peers by name and URL, this replica among them, sorted; the key from its variable; defaults for the rest")
    func peers() throws {
        let config = try Self.load("""
              replica: b
              key_env: CLUSTER_KEY
              peers: { c: "http://10.0.0.3:8080/", a: http://10.0.0.1:8080, b: "https://b.internal:8443" }
            """)
        let cluster = try #require(config.cluster)
        #expect(cluster.replica == "b")
        #expect(cluster.peers.map(\.name) == ["a", "b", "c"])
        #expect(cluster.url(of: "c") == "http://10.0.0.3:8080")
        #expect(cluster.others.map(\.name) == ["a", "c"])
        #expect(cluster.key == Self.key && cluster.keyVariable == "CLUSTER_KEY")
        #expect(cluster.coordinationDatabase == "postgres")
        #expect(cluster.peerConnectTimeout == .seconds(2))
        #expect(!ConfigRenderer.yaml(config, pools: []).contains(Self.key), "the key is never written back")
    }

    @Test("peers_dns: a StatefulSet's pods behind a headless Service, named from this replica's name")
    func peersDNS() throws {
        let config = try Self.load("""
              replica: poolwarden-1
              key_env: CLUSTER_KEY
              peers_dns: { service: poolwarden-peers, replicas: 3, port: 8080 }
            """)
        #expect(config.cluster?.peers.map(\.url) == [
            "http://poolwarden-0.poolwarden-peers:8080", "http://poolwarden-1.poolwarden-peers:8080", "http://poolwarden-2.poolwarden-peers:8080",
        ])
        // What GET /v1/config writes loads back as the same cluster.
        let written = ConfigRenderer.yaml(config, pools: [])
        let again = try ConfigLoader(environment: Self.environment).load(yaml: written)
        #expect(again.cluster == config.cluster)
    }

    @Test("every mistake is named by its field: no key, a short key, a replica missing from its peers, a bad URL, a bad name")
    func refusals() {
        func messages(_ text: String) -> [String] { ConfigTests.messages("cluster:\n" + text, environment: Self.environment) }
        #expect(messages("  replica: a\n  peers: { a: http://h:1 }\n").contains { $0.hasPrefix("cluster.key_env: required") })
        #expect(messages("  replica: a\n  key_env: SHORT_KEY\n  peers: { a: http://h:1 }\n").contains {
            $0.contains("holds 5 characters; a cluster key needs at least 32") && !$0.contains("short\"")
        })
        #expect(messages("  replica: a\n  key_env: CLUSTER_KEY\n  peers: { b: http://h:1 }\n") == [
            "cluster.peers: does not list this replica, \"a\" (it lists b)",
        ])
        #expect(messages("  replica: a\n  key_env: CLUSTER_KEY\n  peers: { a: \"h:1/x\" }\n") == [
            "cluster.peers.a: must be a URL of the form http://host:port or https://host:port, with no path",
        ])
        #expect(messages("  replica: A_1\n  key_env: CLUSTER_KEY\n  peers: { a: http://h:1 }\n").first?.hasPrefix("cluster.replica: \"A_1\" is no replica name") == true)
        #expect(messages("  replica: a\n  key_env: CLUSTER_KEY\n").contains { $0.hasPrefix("cluster: needs peers") })
        #expect(messages("  replica: a\n  key_env: CLUSTER_KEY\n  peers: { a: http://h:1 }\n  peers_dns: { service: s, replicas: 1 }\n")
            .contains("cluster: give peers or peers_dns, not both"))
        #expect(messages("  replica: solo\n  key_env: CLUSTER_KEY\n  peers_dns: { service: s, replicas: 2 }\n").contains {
            $0.hasPrefix("cluster.peers_dns: replica \"solo\" is not <statefulset>-<ordinal>")
        })
    }

    @Test("a change of cluster: takes a restart; a reload keeps the running one")
    func restartOnly() throws {
        let old = try Self.load("  replica: a\n  key_env: CLUSTER_KEY\n  peers: { a: http://h:1 }\n")
        let new = try Self.load("  replica: a\n  key_env: CLUSTER_KEY\n  peers: { a: http://h:1, b: http://h:2 }\n")
        #expect(ConfigReloader.restartRequired(old, new) == ["cluster"])
        #expect(ConfigReloader.inForce(new, restartOnly: old).cluster == old.cluster)
    }

    @Test("tokens of a replica name it after a dot; a malformed owner is no token")
    func tokens() {
        let token = LeaseToken.generate(owner: "poolwarden-2")
        #expect(token.hasSuffix(".poolwarden-2"))
        #expect(LeaseToken.owner(of: token) == "poolwarden-2")
        #expect(LeaseToken.isWellFormed(token))
        #expect(LeaseToken.displayPrefix(token) == String(token.prefix(12)), "the shown prefix stays 8 random characters")
        #expect(!LeaseToken.isWellFormed(String(token.dropLast(13)) + ".Bad_Name"))
        #expect(LeaseToken.owner(of: LeaseToken.generate()) == nil)
    }
}
