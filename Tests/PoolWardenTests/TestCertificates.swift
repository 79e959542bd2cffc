import Foundation
import TestPostgres

/// A throwaway PKI made with the `openssl` command in a temporary folder: a CA, a server
/// certificate for 127.0.0.1 and localhost, client certificates, and a second CA that signs the
/// "foreign" ones. Short-lived (2 days) and removed with ``remove()``.
struct TestCertificates: Sendable {
    let folder: String

    /// A server certificate, or a client one, and its key: `<name>.pem`, `<name>.key`.
    struct Pair: Sendable {
        let certificate: String
        let key: String
    }

    static func make() async throws -> TestCertificates {
        let certificates = TestCertificates(folder: NSTemporaryDirectory() + "poolwarden-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: certificates.folder, withIntermediateDirectories: true)
        try await certificates.makeAuthority("ca", subject: "/CN=PoolWarden Test CA")
        try await certificates.makeAuthority("foreign-ca", subject: "/CN=Someone Else's CA")
        return certificates
    }

    private init(folder: String) {
        self.folder = folder
    }

    var authority: String { "\(folder)/ca.pem" }
    var foreignAuthority: String { "\(folder)/foreign-ca.pem" }

    /// A certificate signed by `ca` (or `foreign-ca`) with the subject given in openssl's
    /// `/C=../O=../CN=..` form (UTF-8); server ones get 127.0.0.1 and localhost as alternative names,
    /// and with `alsoClient` may present themselves as clients too (a cluster replica to its peers).
    func issued(_ name: String, subject: String, by authority: String = "ca", server: Bool = false, alsoClient: Bool = false) async throws -> Pair {
        let key = "\(folder)/\(name).key", request = "\(folder)/\(name).csr", certificate = "\(folder)/\(name).pem"
        let extensions = "\(folder)/\(name).ext"
        let serverUsage = alsoClient ? "serverAuth,clientAuth" : "serverAuth"
        let usage = server ? "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=\(serverUsage)\n" : "extendedKeyUsage=clientAuth\n"
        try usage.write(toFile: extensions, atomically: true, encoding: .utf8)
        try await Self.openssl([
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", request, "-utf8", "-subj", subject,
        ])
        try await Self.openssl([
            "x509", "-req", "-in", request, "-CA", "\(folder)/\(authority).pem", "-CAkey", "\(folder)/\(authority).key",
            "-CAcreateserial", "-out", certificate, "-days", "2", "-extfile", extensions,
        ])
        return Pair(certificate: certificate, key: key)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: folder)
    }

    private func makeAuthority(_ name: String, subject: String) async throws {
        try await Self.openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "\(folder)/\(name).key", "-out", "\(folder)/\(name).pem", "-days", "2", "-subj", subject,
        ])
    }

    /// openssl through `CLIProcess`, waited for on a thread of its own: not on the two threads of
    /// the global executor that every test's service shares.
    private static func openssl(_ arguments: [String]) async throws {
        let result = try await CLIProcess.run(["openssl"] + arguments, executable: "/usr/bin/env")
        guard result.status == 0 else {
            throw HarnessError("openssl \(arguments.prefix(2).joined(separator: " ")) failed: \(result.stderr)")
        }
    }
}
