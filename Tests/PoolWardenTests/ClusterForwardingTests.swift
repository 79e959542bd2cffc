import AsyncHTTPClient
import Foundation
import HTTPTypes
import NIOCore
import NIOSSL
import PoolWardenHTTP
import PoolWardenRuntime
import TestPostgres
import Testing

/// Three replicas on loopback ports: a lease request reaching a replica that does not own the
/// token goes to its owner (issue 16, item 3), with the caller re-checked there, and a replica
/// that is gone answers for its tokens with 410 `replica_lost`.
@Suite("Cluster: lease requests forwarded to their owner")
struct ClusterForwardingTests {
    static func pools(_ server: TestServer) -> String {
        ServiceHarness.pool("main", conninfo: server.conninfo(), extra: ["max": "4"])
    }

    static let ndjson: HTTPFields = [.accept: "application/x-ndjson"]
    static let keyHeader = HTTPField.Name("PoolWarden-Cluster-Key")!
    static let subjectHeader = HTTPField.Name("PoolWarden-Cluster-Subject")!

    /// `SELECT 1` on the lease, with `headers` added to the request.
    static func select(_ api: APIClient, _ token: String, headers: HTTPFields) async throws -> APIClient.Answer {
        try await api.send(.post, "/v1/leases/\(token)/query", key: ServiceHarness.appKey, body: #"{"sql": "SELECT 1"}"#, headers: headers)
    }

    @Test("a token borrowed at A is queried, streamed, renewed, batch-run and released through B and C")
    func throughEveryReplica() async throws {
        let server = try await TestPostgres.server()
        try await ClusterHarness.run(pools: Self.pools(server)) { cluster in
            let token = try await cluster.api("a").borrow("main")
            #expect(token.hasSuffix(".a"))
            let lease = try await cluster.api("a").send(.get, "/v1/leases/\(token)", key: ServiceHarness.appKey)
            let pid = try #require(lease["backend_pid"] as? Int)

            let viaB = try await cluster.api("b").query(token, "SELECT pg_backend_pid() AS pid")
            #expect(viaB.status == 200)
            #expect((viaB["rows"] as? [[Any]])?.first?.first as? Int == pid, "\(viaB.text)")
            #expect(try await cluster.api("b").query(token, "BEGIN").status == 200)
            #expect(try await cluster.api("c").query(token, "CREATE TEMP TABLE t AS SELECT 7 AS x").status == 200)
            let read = try await cluster.api("b").query(token, "SELECT x FROM t")
            #expect((read["rows"] as? [[Any]])?.first?.first as? Int == 7)

            let stream = try await cluster.api("c").send(
                .post, "/v1/leases/\(token)/query", key: ServiceHarness.appKey,
                body: #"{"sql": "SELECT n FROM generate_series(1, 2000) AS n"}"#, headers: Self.ndjson
            )
            #expect(stream.status == 200)
            #expect(stream.contentType == "application/x-ndjson")
            #expect(stream.text.split(separator: "\n").count >= 2000)

            let renewed = try await cluster.api("c").send(.post, "/v1/leases/\(token)/renew", key: ServiceHarness.appKey, body: #"{"ttl_ms": 120000}"#)
            #expect(renewed.status == 200 && renewed["ttl_ms"] as? Int == 120000, "\(renewed.text)")
            let batch = try await cluster.api("b").send(
                .post, "/v1/leases/\(token)/batch", key: ServiceHarness.appKey,
                body: #"{"statements": [{"sql": "SELECT 1"}, {"sql": "ROLLBACK"}]}"#
            )
            #expect(batch.status == 200, "\(batch.text)")
            let sqlError = try await cluster.api("b").query(token, "SELECT * FROM no_such_table")
            #expect(sqlError.status == 422 && sqlError.code == "sql_error" && sqlError.contentType == "application/problem+json")

            #expect(try await cluster.api("c").send(.delete, "/v1/leases/\(token)", key: ServiceHarness.appKey).status == 204)
            let after = try await cluster.api("b").query(token, "SELECT 1")
            #expect(after.status == 404 && after.code == "lease_not_found")
            let pool = try await cluster.api("a").send(.get, "/v1/pools/main")
            #expect((pool["counts"] as? [String: Any])?["leased"] as? Int == 0)
        }
    }

    @Test("long statements forwarded through B hold up no other forwarded request: nothing queues behind a few connections to the owner")
    func noQueueBehindLongStatements() async throws {
        let server = try await TestPostgres.server()
        let pools = ServiceHarness.pool("main", conninfo: server.conninfo(), extra: ["max": "12", "max_per_caller": "12"])
        try await ClusterHarness.run(pools: pools) { cluster in
            var tokens: [String] = []
            for _ in 0..<9 { tokens.append(try await cluster.api("a").borrow("main")) }
            let sleepers = tokens.prefix(8)
            let slow = Task {
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for token in sleepers {
                        group.addTask { try await cluster.api("b").query(token, "SELECT pg_sleep(4)").status }
                    }
                    return try await group.reduce(into: [Int]()) { $0.append($1) }
                }
            }
            try await Task.sleep(for: .milliseconds(500))
            let started = ContinuousClock.now
            let quick = try await cluster.api("b").query(tokens[8], "SELECT 1")
            let took = ContinuousClock.now - started
            #expect(quick.status == 200)
            // With AsyncHTTPClient's default of 8 connections per peer, this one waited in the
            // client's queue past the 1 s connect timeout and was answered 410 replica_lost, its
            // lease alive at the owner.
            #expect(took < .seconds(2), "answered after \(took) behind 8 forwarded 4-second statements")
            #expect(try await slow.value == Array(repeating: 200, count: 8))
        }
    }

    @Test("careless and hostile requests at a forwarder: a body over max_body_bytes answers 413 there, a revoke with an empty prefix or pool is answered, and B serves on")
    func forwarderSurvives() async throws {
        let server = try await TestPostgres.server()
        try await ClusterHarness.run(pools: Self.pools(server)) { cluster in
            let token = try await cluster.api("a").borrow("main")
            // Two megabytes for a lease of A, at B: B used to stream it to A, which answered 413
            // before reading it; B then read the body a second time and the process trapped.
            let big = "{\"sql\": \"SELECT 1\", \"pad\": \"" + String(repeating: "x", count: 2 << 20) + "\"}"
            let refused = try await cluster.api("b").send(.post, "/v1/leases/\(token)/query", key: ServiceHarness.appKey, body: big)
            #expect(refused.status == 413 && refused.code == "payload_too_large", "\(refused.status) \(refused.code ?? "")")
            // A made-up token of A, at B, with no credentials at all: the same.
            let madeUp = "pwl_" + String(repeating: "A", count: 43) + ".a"
            #expect(try await cluster.api("b").send(.post, "/v1/leases/\(madeUp)/query", key: nil, body: big).status == 413)
            for path in ["/v1/pools/main/leases/", "/v1/pools//leases/x"] {
                let revoke = try await cluster.api("b").send(.delete, path, key: ServiceHarness.appKey)
                #expect([400, 403, 404].contains(revoke.status), "\(path): \(revoke.status) \(revoke.text)")
            }
            #expect(try await cluster.api("b").query(token, "SELECT 1").status == 200, "B still forwards")
        }
    }

    @Test("the owner re-checks the caller: another client's key answers through B exactly as at A")
    func ownerChecksCaller() async throws {
        let server = try await TestPostgres.server()
        try await ClusterHarness.run(pools: Self.pools(server)) { cluster in
            let token = try await cluster.api("a").borrow("main")
            let atOwner = try await cluster.api("a").query(token, "SELECT 1", key: ServiceHarness.otherKey)
            let viaB = try await cluster.api("b").query(token, "SELECT 1", key: ServiceHarness.otherKey)
            #expect(atOwner.status == 404 && atOwner.code == "lease_not_found")
            #expect(viaB.status == atOwner.status && viaB.code == atOwner.code)
            let noKey = try await cluster.api("b").send(.post, "/v1/leases/\(token)/query", key: nil, body: #"{"sql": "SELECT 1"}"#)
            #expect(noKey.status == 401 && noKey.headers[.wwwAuthenticate] != nil)
            let admin = try await cluster.api("c").send(.get, "/v1/leases/\(token)", key: ServiceHarness.adminKey)
            #expect(admin.status == 200 && admin["caller"] as? String == "app")
        }
    }

    @Test("cluster headers without the cluster key are refused; with it, the request is answered where it arrives, never sent on")
    func forgedHeaders() async throws {
        let server = try await TestPostgres.server()
        try await ClusterHarness.run(pools: Self.pools(server)) { cluster in
            let token = try await cluster.api("a").borrow("main")
            let wrongKey = try await Self.select(cluster.api("b"), token, headers: [Self.keyHeader: "guessed-0123456789abcdef0123456789ab"])
            #expect(wrongKey.status == 401 && wrongKey.code == "unauthorized")
            let subject = Data("CN=ops".utf8).base64EncodedString()
            let claimed = try await cluster.api("b").send(.get, "/v1/pools", key: nil, headers: [Self.subjectHeader: subject])
            #expect(claimed.status == 401 && claimed.code == "unauthorized")
            #expect(!wrongKey.text.contains(ClusterHarness.key) && !wrongKey.text.contains(token))

            // What a peer sends: answered at B, where the token is not live, so not found.
            let fromPeer = try await Self.select(cluster.api("b"), token, headers: [Self.keyHeader: ClusterHarness.key])
            #expect(fromPeer.status == 404 && fromPeer.code == "lease_not_found")
            // The key alone names no caller: the caller's own credentials still decide.
            let keyOnly = try await cluster.api("b").send(.get, "/v1/pools", key: nil, headers: [Self.keyHeader: ClusterHarness.key])
            #expect(keyOnly.status == 401)
        }
    }

    @Test("a stopped owner's tokens answer 410 replica_lost at once, as do tokens naming no replica of the cluster")
    func ownerGone() async throws {
        let server = try await TestPostgres.server()
        try await ClusterHarness.run(pools: Self.pools(server)) { cluster in
            let token = try await cluster.api("a").borrow("main")
            await cluster.stop("a")
            let started = ContinuousClock.now
            let lost = try await cluster.api("b").query(token, "SELECT 1")
            let took = ContinuousClock.now - started
            #expect(lost.status == 410 && lost.code == "lease_gone" && lost["reason"] as? String == "replica_lost", "\(lost.text)")
            // A refused connect fails at once; the bound is the 1 s connect timeout, with slack for
            // a machine busy with other suites.
            #expect(took < .seconds(4), "answered after \(took); the connect timeout is 1 s")
            #expect(!lost.text.contains(token))
            let renew = try await cluster.api("c").send(.post, "/v1/leases/\(token)/renew", key: ServiceHarness.appKey)
            #expect(renew.status == 410 && renew["reason"] as? String == "replica_lost")

            let foreign = String(token.prefix(47)) + ".zz"
            let unknown = try await cluster.api("b").query(foreign, "SELECT 1")
            #expect(unknown.status == 410 && unknown["reason"] as? String == "replica_lost")
        }
    }
}

/// Replicas over HTTPS asking every client for a certificate: a caller known only by its
/// certificate's subject uses its token through another replica, whose own certificate never
/// passes for the caller's.
@Suite("Cluster: forwarding under mutual TLS")
struct ClusterMutualTLSTests {
    static let callers = """
          - { name: ops, role: admin, key_env: T_ADMIN_KEY }
          - { name: reporting, role: client, cert_subject: "CN=reporting,O=Acme" }
        """

    /// `method path` over HTTPS with `certificate`, answered as status and body.
    static func send(
        _ method: String, port: Int, _ path: String, body: String? = nil, certificates: TestCertificates, as certificate: TestCertificates.Pair
    ) async throws -> (status: Int, json: [String: Any]) {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(certificates.authority)
        tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate.certificate).map { .certificate($0) }
        tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: certificate.key, format: .pem))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls, timeout: .init(connect: .seconds(10))))
        var request = HTTPClientRequest(url: "https://127.0.0.1:\(port)\(path)")
        request.method = .init(rawValue: method)
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        do {
            let response = try await client.execute(request, timeout: .seconds(30))
            let bytes = try await response.body.collect(upTo: 1 << 20)
            try await client.shutdown()
            let json = (try? JSONSerialization.jsonObject(with: Data(buffer: bytes))) as? [String: Any] ?? [:]
            return (Int(response.status.code), json)
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    @Test("a caller known by its certificate alone queries through B a token borrowed at A; an unknown certificate is refused by the owner")
    func subjectCarried() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        // One certificate for every replica, as server and as client to its peers.
        let replica = try await certificates.issued("replica", subject: "/CN=localhost", server: true, alsoClient: true)
        let reporting = try await certificates.issued("reporting", subject: "/O=Acme/CN=reporting")
        let stranger = try await certificates.issued("stranger", subject: "/O=Acme/CN=stranger")
        let tls = #"{ cert_file: "\#(replica.certificate)", key_file: "\#(replica.key)", client_ca_file: "\#(certificates.authority)" }"#
        let server = try await TestPostgres.server()
        try await ClusterHarness.run(pools: ClusterForwardingTests.pools(server), callers: Self.callers, tls: tls) { cluster in
            let borrowed = try await Self.send("POST", port: cluster.port("a"), "/v1/pools/main/leases", body: "{}", certificates: certificates, as: reporting)
            let token = try #require(borrowed.json["token"] as? String, "\(borrowed)")
            let query = #"{"sql": "SELECT 1 AS one"}"#
            let viaB = try await Self.send("POST", port: cluster.port("b"), "/v1/leases/\(token)/query", body: query, certificates: certificates, as: reporting)
            #expect(viaB.status == 200, "\(viaB.json)")
            let strangerViaB = try await Self.send("POST", port: cluster.port("b"), "/v1/leases/\(token)/query", body: query, certificates: certificates, as: stranger)
            #expect(strangerViaB.status == 401 && strangerViaB.json["code"] as? String == "unauthorized")
            // The replicas reach one another over HTTPS with their certificate.
            let view = try await Self.send("GET", port: cluster.port("c"), "/v1/pools?scope=cluster", certificates: certificates, as: reporting)
            let reachable = (view.json["replicas"] as? [[String: Any]] ?? []).map { $0["reachable"] as? Bool }
            #expect(view.status == 200 && reachable == [true, true, true], "\(view.json)")
            let released = try await Self.send("DELETE", port: cluster.port("c"), "/v1/leases/\(token)", certificates: certificates, as: reporting)
            #expect(released.status == 204)
        }
    }
}
