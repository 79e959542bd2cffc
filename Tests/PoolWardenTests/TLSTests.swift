import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL
import PoolWardenHTTP
import PoolWardenRuntime
import TestPostgres
import Testing

/// HTTPS on the API (`listen.tls`), client certificates (`client_ca_file`), callers known by a
/// certificate's subject, and certificate files read again without a restart.
@Suite("TLS: HTTPS, client certificates and certificate subjects")
struct TLSTests {
    /// A client of the service over HTTPS that trusts `authority` and presents `certificate`.
    struct HTTPSClient {
        let client: HTTPClient
        let port: Int

        init(port: Int, trusting authority: String?, certificate: TestCertificates.Pair? = nil) throws {
            var tls = TLSConfiguration.makeClientConfiguration()
            if let authority { tls.trustRoots = .file(authority) }
            if let certificate {
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate.certificate).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: certificate.key, format: .pem))
            }
            var configuration = HTTPClient.Configuration(tlsConfiguration: tls, timeout: .init(connect: .seconds(10), read: .seconds(30)))
            configuration.connectionPool.retryConnectionEstablishment = false
            client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            self.port = port
        }

        /// The status and body of `GET path`, or the error that prevented an answer.
        func get(_ path: String, key: String? = nil, scheme: String = "https") async -> Result<(status: Int, body: String), any Error> {
            var request = HTTPClientRequest(url: "\(scheme)://127.0.0.1:\(port)\(path)")
            if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
            do {
                let response = try await client.execute(request, timeout: .seconds(30))
                let body = try await response.body.collect(upTo: 1 << 20)
                return .success((Int(response.status.code), String(buffer: body)))
            } catch {
                return .failure(error)
            }
        }

        func shutdown() async {
            try? await client.shutdown()
        }
    }

    static func config(_ certificates: TestCertificates, server: TestCertificates.Pair, clientCA: Bool, callers: String) -> String {
        let ca = clientCA ? ", client_ca_file: \"\(certificates.authority)\"" : ""
        return """
        listen:
          host: 127.0.0.1
          port: \((try? TestCluster.freePort()) ?? 18443)
          request_timeout: 1s
          tls: { cert_file: "\(server.certificate)", key_file: "\(server.key)"\(ca) }
        callers:
        \(callers)
        pools: []
        """
    }

    static let keyCallers = """
          - { name: ops, role: admin, key_env: T_ADMIN_KEY }
          - { name: app, role: client, key_env: T_APP_KEY }
        """

    @Test("HTTPS serves the API with the configured certificate; a client that does not trust its CA is refused in the handshake")
    func httpsServes() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let server = try await certificates.issued("server", subject: "/CN=localhost", server: true)
        try await ServiceHarness.run(yaml: Self.config(certificates, server: server, clientCA: false, callers: Self.keyCallers)) { api, _ in
            let port = api.client.port ?? 0
            let trusting = try HTTPSClient(port: port, trusting: certificates.authority)
            let untrusting = try HTTPSClient(port: port, trusting: certificates.foreignAuthority)
            defer { Task { await trusting.shutdown(); await untrusting.shutdown() } }

            let health = try await trusting.get("/healthz").get()
            #expect(health.status == 200)
            let pools = try await trusting.get("/v1/pools", key: ServiceHarness.adminKey).get()
            #expect(pools.status == 200, "\(pools.body)")
            let noKey = try await trusting.get("/v1/pools").get()
            #expect(noKey.status == 401)

            let refused = await untrusting.get("/healthz")
            guard case .failure(let error) = refused else {
                Issue.record("a client trusting another CA got an answer: \(refused)")
                return
            }
            #expect(error is NIOSSLError, "\(error)")
            // The service goes on serving after a failed handshake.
            #expect(try await trusting.get("/healthz").get().status == 200)
            // Before the service stops, which would wait for their idle connections.
            await trusting.shutdown()
            await untrusting.shutdown()
        }
    }

    @Test("A plain HTTP request to the HTTPS port is answered 400 tls_required in clear, then closed")
    func plainHTTPRefused() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let server = try await certificates.issued("server", subject: "/CN=localhost", server: true)
        try await ServiceHarness.run(yaml: Self.config(certificates, server: server, clientCA: false, callers: Self.keyCallers)) { api, _ in
            let port = api.client.port ?? 0
            let answer = try await TestPostgres.offThread {
                let raw = try RawHTTPClient(port: port)
                defer { raw.close() }
                raw.send("GET /v1/pools HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(ServiceHarness.adminKey)\r\n\r\n")
                let answer = raw.receive(timeout: .seconds(5))
                // Then the service half-closes at once (not only when its 2 s grace ends): the
                // next read sees the end within a second of the answer.
                var byte: UInt8 = 0
                var poller = pollfd(fd: raw.fd, events: Int16(POLLIN), revents: 0)
                let ready = poll(&poller, 1, 1000)
                let closed = ready == 1 && recv(raw.fd, &byte, 1, 0) == 0
                return (answer, closed)
            }
            #expect(answer.0?.head.hasPrefix("HTTP/1.1 400") == true, "\(String(describing: answer.0))")
            #expect(answer.0?.head.contains("application/problem+json") == true)
            let problem = (try? JSONSerialization.jsonObject(with: Data((answer.0?.body ?? "").utf8))) as? [String: Any]
            #expect(problem?["code"] as? String == "tls_required")
            #expect(answer.1, "the connection was not half-closed within a second of the refusal")

            // The same through an HTTP client library.
            let client = try HTTPSClient(port: port, trusting: nil)
            defer { Task { await client.shutdown() } }
            let viaLibrary = try await client.get("/healthz", scheme: "http").get()
            #expect(viaLibrary.status == 400)
            #expect(viaLibrary.body.contains("tls_required"))
            await client.shutdown()
        }
    }

    @Test("A client that starts a handshake and stops is closed at the request timeout, and others are served meanwhile")
    func stalledHandshakeClosed() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let server = try await certificates.issued("server", subject: "/CN=localhost", server: true)
        try await ServiceHarness.run(yaml: Self.config(certificates, server: server, clientCA: false, callers: Self.keyCallers)) { api, _ in
            let port = api.client.port ?? 0
            let stalled = Task { try await TestPostgres.offThread { () throws -> Duration? in
                let raw = try RawHTTPClient(port: port)
                defer { raw.close() }
                // The first bytes of a TLS record header (handshake, TLS 1.0 record version), no more.
                var header: [UInt8] = [0x16, 0x03, 0x01]
                _ = Glibc.send(raw.fd, &header, header.count, Int32(MSG_NOSIGNAL))
                let start = ContinuousClock.now
                var poller = pollfd(fd: raw.fd, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, 8000) == 1 else { return nil }
                var byte: UInt8 = 0
                return recv(raw.fd, &byte, 1, 0) <= 0 ? ContinuousClock.now - start : nil
            } }
            let client = try HTTPSClient(port: port, trusting: certificates.authority)
            defer { Task { await client.shutdown() } }
            #expect(try await client.get("/healthz").get().status == 200)
            let closedAfter = try await stalled.value
            #expect(closedAfter != nil, "the stalled handshake was not closed within 8 s")
            if let closedAfter { #expect(closedAfter < .seconds(4), "closed after \(closedAfter), request_timeout is 1 s") }
            await client.shutdown()
        }
    }

    static let certificateCallers = """
          - { name: ops, role: admin, key_env: T_ADMIN_KEY }
          - { name: opsbot, role: admin, cert_subject: "CN=opsbot,O=Acme" }
          - { name: reporting, role: client, cert_subject: "cn=reporting, o=Acme" }
          - { name: both, role: admin, key_env: T_OTHER_KEY, cert_subject: "CN=both,O=Acme" }
          - { name: accented, role: admin, cert_subject: 'CN=r\\C3\\A9porter,O=Acme' }
        """

    @Test("Mutual TLS: a good certificate is served, a missing or foreign one fails the handshake; callers known by subject, or by key and subject together")
    func mutualTLS() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let server = try await certificates.issued("server", subject: "/CN=localhost", server: true)
        let opsbot = try await certificates.issued("opsbot", subject: "/O=Acme/CN=opsbot")
        let reporting = try await certificates.issued("reporting", subject: "/O=Acme/CN=reporting")
        let both = try await certificates.issued("both", subject: "/O=Acme/CN=both")
        let stranger = try await certificates.issued("stranger", subject: "/O=Acme/CN=stranger")
        let foreign = try await certificates.issued("foreign", subject: "/O=Acme/CN=opsbot", by: "foreign-ca")
        // opsbot's subject with one attribute more: signed by the right CA, it must not pass for opsbot.
        let extended = try await certificates.issued("extended", subject: "/O=Acme/OU=Lab/CN=opsbot")
        let accented = try await certificates.issued("accented", subject: "/O=Acme/CN=r\u{E9}porter")
        let yaml = Self.config(certificates, server: server, clientCA: true, callers: Self.certificateCallers)
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let port = api.client.port ?? 0
            func client(_ pair: TestCertificates.Pair?) throws -> HTTPSClient {
                try HTTPSClient(port: port, trusting: certificates.authority, certificate: pair)
            }
            var clients: [HTTPSClient] = []
            defer { Task { [clients] in for client in clients { await client.shutdown() } } }
            for pair in [nil, opsbot, reporting, both, stranger, foreign, extended, accented] { clients.append(try client(pair)) }
            let (none, opsbotClient, reportingClient, bothClient, strangerClient, foreignClient) =
                (clients[0], clients[1], clients[2], clients[3], clients[4], clients[5])
            let (extendedClient, accentedClient) = (clients[6], clients[7])
            let handshakeFailures = #"poolwarden_tls_handshake_failures_total"#
            let failuresBefore = ServiceHarness.sample(handshakeFailures, in: try await opsbotClient.get("/metrics").get().body)

            // No certificate, or one of another CA: no HTTP at all, whatever the key.
            for (name, refused) in [("no certificate", none), ("a foreign CA's certificate", foreignClient)] {
                let answer = await refused.get("/v1/config", key: ServiceHarness.adminKey)
                if case .success(let answer) = answer { Issue.record("\(name) was answered \(answer.status)") }
            }

            // Known by the certificate alone: an admin's reaches admin routes, a client's does not.
            let config = try await opsbotClient.get("/v1/config").get()
            #expect(config.status == 200, "\(config.body)")
            let forbidden = try await reportingClient.get("/v1/config").get()
            #expect(forbidden.status == 403, "\(forbidden.body)")
            #expect(try await reportingClient.get("/v1/pools").get().status == 200)

            let failuresAfter = ServiceHarness.sample(handshakeFailures, in: try await opsbotClient.get("/metrics").get().body)
            #expect(failuresAfter >= failuresBefore + 2, "\(failuresBefore) -> \(failuresAfter)")

            // A certificate of the right CA whose subject names no caller needs a key; so does one
            // with an attribute more than a caller's subject.
            let stranger = try await strangerClient.get("/v1/pools").get()
            #expect(stranger.status == 401)
            #expect(stranger.body.contains("names no caller"), "\(stranger.body)")
            #expect(try await extendedClient.get("/v1/config").get().status == 401)
            // Non-ASCII subjects, written as openssl prints them (UTF-8 bytes escaped).
            #expect(try await accentedClient.get("/v1/config").get().status == 200)
            #expect(try await strangerClient.get("/v1/config", key: ServiceHarness.adminKey).get().status == 200)

            // Key and certificate together: either alone, or the key with another caller's
            // certificate, is refused.
            #expect(try await bothClient.get("/v1/config", key: ServiceHarness.otherKey).get().status == 200)
            #expect(try await bothClient.get("/v1/config").get().status == 401)
            let wrongCertificate = try await reportingClient.get("/v1/config", key: ServiceHarness.otherKey).get()
            #expect(wrongCertificate.status == 401, "\(wrongCertificate.body)")
            #expect(wrongCertificate.body.contains("client certificate"))
            // A wrong key gets the same words: they must not tell a stolen key's holder it is valid.
            let wrongKey = try await reportingClient.get("/v1/config", key: "not-a-key-of-anyone").get()
            #expect(wrongKey.status == 401)
            let detail = { (body: String) in (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["detail"] as? String }
            #expect(detail(wrongKey.body) != nil)
            #expect(detail(wrongKey.body) == detail(wrongCertificate.body))

            let metrics = try await opsbotClient.get("/metrics").get().body
            #expect(ServiceHarness.sample(#"poolwarden_authentications_total{caller="opsbot",key="cert_subject"}"#, in: metrics) >= 1)
            #expect(ServiceHarness.sample(#"poolwarden_authentications_total{caller="both",key="key_env[0]"}"#, in: metrics) == 1)
            #expect(ServiceHarness.sample(#"poolwarden_authentication_failures_total{reason="certificate"}"#, in: metrics) >= 1)
            for client in clients { await client.shutdown() }
        }
    }

    @Test("Certificate files read again take effect for the next connection; unusable files change nothing")
    func certificateReload() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let first = try await certificates.issued("first", subject: "/CN=localhost", server: true)
        let renewed = try await certificates.issued("renewed", subject: "/CN=localhost", by: "foreign-ca", server: true)
        let settings = ListenTLS(certificateFile: first.certificate, keyFile: first.key)
        let tls = try ServerTLS(settings)
        try await ServiceHarness.run(yaml: Self.config(certificates, server: first, clientCA: false, callers: Self.keyCallers), tls: tls) { api, _ in
            let port = api.client.port ?? 0
            let oldTrust = try HTTPSClient(port: port, trusting: certificates.authority)
            defer { Task { await oldTrust.shutdown() } }
            #expect(try await oldTrust.get("/healthz").get().status == 200)

            // A key that is not the certificate's: refused, and the old files keep serving.
            #expect(throws: ServerTLS.SetupError.self) {
                try tls.reload(ListenTLS(certificateFile: renewed.certificate, keyFile: first.key))
            }
            let stillOld = try HTTPSClient(port: port, trusting: certificates.authority)
            defer { Task { await stillOld.shutdown() } }
            #expect(try await stillOld.get("/healthz").get().status == 200)

            let changes = try tls.reload(ListenTLS(certificateFile: renewed.certificate, keyFile: renewed.key))
            #expect(!changes.isEmpty)
            let newTrust = try HTTPSClient(port: port, trusting: certificates.foreignAuthority)
            let oldTrustAgain = try HTTPSClient(port: port, trusting: certificates.authority)
            defer { Task { await newTrust.shutdown(); await oldTrustAgain.shutdown() } }
            #expect(try await newTrust.get("/healthz").get().status == 200)
            if case .success = await oldTrustAgain.get("/healthz") {
                Issue.record("the old certificate was still served after the reload")
            }
            for client in [oldTrust, stillOld, newTrust, oldTrustAgain] { await client.shutdown() }
        }
    }
}

extension TLSTests {
    @Test("The CLI speaks HTTPS: --cacert (or POOLWARDEN_CACERT), a client certificate, and clear messages when TLS fails")
    func cliOverHTTPS() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let server = try await certificates.issued("server", subject: "/CN=localhost", server: true)
        let opsbot = try await certificates.issued("opsbot", subject: "/O=Acme/CN=opsbot")
        let yaml = Self.config(certificates, server: server, clientCA: true, callers: Self.certificateCallers)
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let port = api.client.port ?? 0
            let url = "https://127.0.0.1:\(port)"
            let withCertificate = [
                "POOLWARDEN_URL": url, "POOLWARDEN_CACERT": certificates.authority,
                "POOLWARDEN_CERT": opsbot.certificate, "POOLWARDEN_CERT_KEY": opsbot.key,
            ]
            let status = try await CLIProcess.run(["status"], environment: withCertificate)
            #expect(status.status == 0, "\(status)")

            let options = try await CLIProcess.run(
                ["status", "--url", url, "--cacert", certificates.authority, "--cert", opsbot.certificate, "--cert-key", opsbot.key]
            )
            #expect(options.status == 0, "\(options)")

            let untrusted = try await CLIProcess.run(["status", "--url", url, "--cert", opsbot.certificate, "--cert-key", opsbot.key])
            #expect(untrusted.status == 3, "\(untrusted)")
            #expect(untrusted.stderr.contains("not signed by a trusted CA"), "\(untrusted)")

            let noCertificate = try await CLIProcess.run(["status", "--url", url, "--cacert", certificates.authority])
            #expect(noCertificate.status == 3, "\(noCertificate)")
            #expect(noCertificate.stderr.contains("TLS failed"), "\(noCertificate)")

            let halfCertificate = try await CLIProcess.run(["status", "--url", url, "--cert", opsbot.certificate])
            #expect(halfCertificate.status != 0)
            #expect(halfCertificate.stderr.contains("--cert and --cert-key"), "\(halfCertificate)")

            let unreadable = try await CLIProcess.run(["status", "--url", url, "--cacert", certificates.folder + "/missing.pem"])
            #expect(unreadable.status == 3, "\(unreadable)")
            #expect(unreadable.stderr.contains("missing.pem: CA file cannot be read"), "\(unreadable)")

            let plain = try await CLIProcess.run(["status", "--url", "http://127.0.0.1:\(port)"])
            #expect(plain.status == 2, "\(plain)")
            #expect(plain.stderr.contains("tls_required"), "\(plain)")
        }
    }
}

extension TLSTests {
    /// POSTs `/v1/reload` over HTTPS as the admin; the status and body.
    static func reload(_ client: HTTPSClient) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: "https://127.0.0.1:\(client.port)/v1/reload")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(ServiceHarness.adminKey)")
        let response = try await client.client.execute(request, timeout: .seconds(30))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    @Test("POST /v1/reload reads renewed certificate files in place; files that do not load refuse the reload by field and the old ones keep serving")
    func reloadRenewsCertificate() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let first = try await certificates.issued("first", subject: "/CN=localhost", server: true)
        let renewed = try await certificates.issued("renewed", subject: "/CN=localhost", by: "foreign-ca", server: true)
        let mismatched = try await certificates.issued("mismatched", subject: "/CN=localhost", server: true)
        // The service reads tls.crt and tls.key, as a mounted Secret's files, renewed in place.
        let certificate = "\(certificates.folder)/tls.crt", key = "\(certificates.folder)/tls.key"
        @Sendable func install(_ pair: TestCertificates.Pair, key keyFrom: String? = nil) throws {
            for (from, to) in [(pair.certificate, certificate), (keyFrom ?? pair.key, key)] {
                try? FileManager.default.removeItem(atPath: to)
                try FileManager.default.copyItem(atPath: from, toPath: to)
            }
        }
        try install(first)
        let yaml = Self.config(certificates, server: TestCertificates.Pair(certificate: certificate, key: key), clientCA: false, callers: Self.keyCallers)
        let file = "\(certificates.folder)/poolwarden.yaml"
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        try await ServiceHarness.run(yaml: yaml, reloadFrom: file) { api, _ in
            let port = api.client.port ?? 0
            let oldTrust = try HTTPSClient(port: port, trusting: certificates.authority)
            let newTrust = try HTTPSClient(port: port, trusting: certificates.foreignAuthority)
            defer { Task { await oldTrust.shutdown(); await newTrust.shutdown() } }

            // Nothing changed: the reload says so.
            let unchanged = try await Self.reload(oldTrust)
            #expect(unchanged.status == 200, "\(unchanged.body)")
            #expect(!unchanged.body.contains("listen.tls"), "\(unchanged.body)")

            // A key that is not the certificate's: 422 naming the field; the old files serve on.
            try install(renewed, key: mismatched.key)
            let refused = try await Self.reload(oldTrust)
            #expect(refused.status == 422, "\(refused.body)")
            #expect(refused.body.contains("listen.tls.key_file"), "\(refused.body)")
            let freshOld = try HTTPSClient(port: port, trusting: certificates.authority)
            #expect(try await freshOld.get("/healthz").get().status == 200)
            await freshOld.shutdown()

            try install(renewed)
            let applied = try await Self.reload(oldTrust)
            #expect(applied.status == 200, "\(applied.body)")
            #expect(applied.body.contains("listen.tls"), "\(applied.body)")
            #expect(try await newTrust.get("/healthz").get().status == 200)
            let staleTrust = try HTTPSClient(port: port, trusting: certificates.authority)
            if case .success = await staleTrust.get("/healthz") { Issue.record("the old certificate was still served after the reload") }
            await staleTrust.shutdown()
            await oldTrust.shutdown()
            await newTrust.shutdown()
        }
    }
}
