import Foundation
@testable import PoolWardenHTTP
@testable import PoolWardenRuntime
import Testing

/// `listen.tls` and `callers[].cert_subject` in the config file, and the subject syntax.
@Suite("Config: listen.tls and certificate subjects")
struct ConfigTLSTests {
    static let environment = ["K": "key-0123456789abcdef"]

    @Test("listen.tls: each file must exist and hold PEM of its kind; relative paths are the config file's folder's")
    func tlsFiles() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let server = try await certificates.issued("server", subject: "/CN=localhost", server: true)
        let folder = certificates.folder
        #expect(ConfigTests.messages("""
            listen: { tls: { cert_file: \(folder)/missing.pem, key_file: \(server.certificate), client_ca_file: \(folder) } }
            callers: [{ name: a, role: admin, key_env: K }]
            """, environment: Self.environment) == [
            "listen.tls.cert_file: \(folder)/missing.pem: no such file",
            "listen.tls.key_file: \(server.certificate): holds no PEM private key (-----BEGIN ...PRIVATE KEY-----)",
            "listen.tls.client_ca_file: \(folder): is a directory",
        ])
        #expect(ConfigTests.messages("""
            listen: { tls: { key_file: \(server.key), certificate: x } }
            """) == [
            "listen.tls.certificate: unknown key; did you mean cert_file?",
            "listen.tls.cert_file: required key is missing",
        ])

        // Relative to the file's folder, when loaded from a file.
        let file = "\(folder)/poolwarden.yaml"
        try "listen: { tls: { cert_file: server.pem, key_file: ./server.key, client_ca_file: ca.pem } }\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let loaded = try ConfigLoader(environment: [:]).load(file: file)
        #expect(loaded.tls == ListenTLS(certificateFile: server.certificate, keyFile: server.key, clientCAFile: certificates.authority))
        #expect(loaded.tls?.requiresClientCertificates == true)
        try ServerTLS.validate(#require(loaded.tls))
    }

    @Test("a key that is not the certificate's is refused where TLS is set up (serve, --check-config, reload)")
    func mismatchedKey() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let one = try await certificates.issued("one", subject: "/CN=localhost", server: true)
        let two = try await certificates.issued("two", subject: "/CN=localhost", server: true)
        #expect {
            try ServerTLS.validate(ListenTLS(certificateFile: one.certificate, keyFile: two.key))
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("listen.tls.key_file: \(two.key) cannot serve with \(one.certificate)")
        }
        #expect(throws: ServerTLS.SetupError.self) {
            try ServerTLS.validate(ListenTLS(certificateFile: one.key, keyFile: one.key))
        }
    }

    @Test("cert_subject: needs client certificates, a valid subject, one caller per subject; a caller needs a key or a subject")
    func certificateSubjects() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let server = try await certificates.issued("server", subject: "/CN=localhost", server: true)
        let tls = "listen: { tls: { cert_file: \(server.certificate), key_file: \(server.key), client_ca_file: \(certificates.authority) } }"
        #expect(ConfigTests.messages("""
            listen: { tls: { cert_file: \(server.certificate), key_file: \(server.key) } }
            callers: [{ name: a, role: admin, cert_subject: CN=a }]
            """) == [
            "callers[0].cert_subject: needs client certificates: set listen.tls.client_ca_file to the CA that signs them",
        ])
        #expect(ConfigTests.messages("""
            \(tls)
            callers:
              - { name: a, role: admin, cert_subject: "CN=a, O=Acme" }
              - { name: b, role: client, cert_subject: "cn=a,o=Acme" }
              - { name: c, role: client, cert_subject: "no equals sign" }
              - { name: d, role: client }
            """) == [
            "callers[1].cert_subject: is the same subject as callers[0] (a); every caller needs its own certificate subject",
            "callers[2].cert_subject: \"no equals sign\" is not a certificate subject (expected TYPE=value, e.g. CN=reporting); write it as "
                + "`openssl x509 -noout -subject -nameopt RFC2253 -in CERT` prints it, e.g. CN=reporting,O=Acme",
            "callers[3]: needs a key: key_env or key_sha256 (either may list several keys, to rotate one), or a client certificate's cert_subject",
        ])
        let loaded = try ConfigLoader(environment: Self.environment).load(yaml: """
            \(tls)
            callers:
              - { name: a, role: admin, cert_subject: "CN=a, O=Acme" }
              - { name: b, role: client, key_env: K, cert_subject: "CN=b" }
            """)
        #expect(loaded.callers.map(\.certificateSubject?.description) == ["CN=a,O=Acme", "CN=b"])
        #expect(loaded.callers[0].keys.isEmpty)
        #expect(loaded.callers[1].keys.count == 1)

        // GET /v1/config writes what loads back to the same callers and listener.
        let rendered = ConfigRenderer.yaml(loaded, pools: [])
        let reloaded = try ConfigLoader(environment: Self.environment).load(yaml: rendered)
        #expect(reloaded.callers == loaded.callers)
        #expect(reloaded.tls == loaded.tls)
    }

    @Test("subjects: RFC 4514 text, attribute names in any case, escapes and UTF-8 bytes, + within a name, compared byte for byte")
    func subjectSyntax() throws {
        let subject = try CertificateSubject(parsing: #" cn = reporting , O=Acme\, Inc. ,c=DE"#)
        #expect(subject.description == #"CN=reporting,O=Acme\, Inc.,C=DE"#)
        #expect(try subject == CertificateSubject(parsing: #"CN=reporting,O=Acme\2C Inc.,C=DE"#))
        #expect(try subject != CertificateSubject(parsing: "CN=reporting,O=Acme,C=DE"))
        #expect(try subject != CertificateSubject(parsing: #"O=Acme\, Inc.,CN=reporting,C=DE"#), "order matters")
        #expect(try CertificateSubject(parsing: "CN=Reporting") != CertificateSubject(parsing: "CN=reporting"), "values are compared as written")
        #expect(try CertificateSubject(parsing: "emailaddress=a@b.c,UID=7,dc=example,serialnumber=12").description
            == "emailAddress=a@b.c,UID=7,DC=example,serialNumber=12")
        // openssl -nameopt RFC2253 writes UTF-8 as escaped bytes; they are one character.
        let accented = try CertificateSubject(parsing: #"CN=r\C3\A9porter"#)
        #expect(accented.names[0][0].value == "r\u{E9}porter")
        // Byte for byte: the decomposed é (e + combining acute) is another subject, though Swift's
        // String equality calls them equal.
        #expect(try accented != CertificateSubject(parsing: "CN=re\u{301}porter"))
        // + joins the attributes of one name; it is not a comma.
        let multi = try CertificateSubject(parsing: "CN=a+UID=7,O=b")
        #expect(multi.names.map(\.count) == [2, 1])
        #expect(multi.description == "CN=a+UID=7,O=b")
        #expect(try multi != CertificateSubject(parsing: "CN=a,UID=7,O=b"))
        // An escaped space at either end is part of the value.
        let spaced = try CertificateSubject(parsing: #"CN=\ x\ "#)
        #expect(spaced.names[0][0].value == " x ")
        #expect(try CertificateSubject(parsing: spaced.description) == spaced)
        for bad in ["", "CN", "=x", "CN=", "CN=a,", "CN=a\\", "C N=a", "2.5.4.3=a", "XYZ=a", "CN=#0403", #"CN=\FF\FE"#] {
            #expect(throws: CertificateSubject.ParseError.self, "\(bad)") { try CertificateSubject(parsing: bad) }
        }
    }
}
