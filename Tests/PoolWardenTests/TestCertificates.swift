import Foundation
import TestPostgres

/// A throwaway PKI made with the `openssl` command in a temporary folder: a CA, a server
/// certificate for 127.0.0.1 and localhost, client certificates, and a second CA that signs the
/// "foreign" ones. Short-lived (2 days) and removed with ``remove()``. Made through ``make()`` and
/// ``issued(_:subject:by:server:)``, which wait for openssl on a thread of their own, not on the
/// two threads of the global executor that every test's service shares.
struct TestCertificates: Sendable {
    let folder: String

    /// A server certificate, or a client one, and its key: `<name>.pem`, `<name>.key`.
    struct Pair: Sendable {
        let certificate: String
        let key: String
    }

    static func make() async throws -> TestCertificates {
        try await TestPostgres.offThread { try TestCertificates() }
    }

    func issued(_ name: String, subject: String, by authority: String = "ca", server: Bool = false) async throws -> Pair {
        try await TestPostgres.offThread { try issue(name, subject: subject, by: authority, server: server) }
    }

    private init() throws {
        folder = NSTemporaryDirectory() + "poolwarden-tls-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try makeAuthority("ca", subject: "/CN=PoolWarden Test CA")
        try makeAuthority("foreign-ca", subject: "/CN=Someone Else's CA")
    }

    var authority: String { "\(folder)/ca.pem" }
    var foreignAuthority: String { "\(folder)/foreign-ca.pem" }

    /// A certificate signed by `ca` (or `foreign-ca`) with the subject given in openssl's
    /// `/C=../O=../CN=..` form; server ones get 127.0.0.1 and localhost as alternative names.
    private func issue(_ name: String, subject: String, by authority: String = "ca", server: Bool = false) throws -> Pair {
        let key = "\(folder)/\(name).key", request = "\(folder)/\(name).csr", certificate = "\(folder)/\(name).pem"
        let extensions = "\(folder)/\(name).ext"
        let usage = server ? "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n" : "extendedKeyUsage=clientAuth\n"
        try usage.write(toFile: extensions, atomically: true, encoding: .utf8)
        try Self.openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", request, "-utf8", "-subj", subject])
        try Self.openssl([
            "x509", "-req", "-in", request, "-CA", "\(folder)/\(authority).pem", "-CAkey", "\(folder)/\(authority).key",
            "-CAcreateserial", "-out", certificate, "-days", "2", "-extfile", extensions,
        ])
        return Pair(certificate: certificate, key: key)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: folder)
    }

    private func makeAuthority(_ name: String, subject: String) throws {
        try Self.openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "\(folder)/\(name).key", "-out", "\(folder)/\(name).pem", "-days", "2", "-subj", subject,
        ])
    }

    /// Runs openssl with its messages in a file, not a pipe: a process another test spawns
    /// meanwhile (a PostgreSQL server) would inherit the pipe's writing end and keep it open, and
    /// reading to the end would wait for that server to exit.
    private static func openssl(_ arguments: [String]) throws {
        let messages = NSTemporaryDirectory() + "poolwarden-openssl-\(UUID().uuidString).err"
        guard FileManager.default.createFile(atPath: messages, contents: nil) else { throw HarnessError("cannot create \(messages)") }
        defer { try? FileManager.default.removeItem(atPath: messages) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: messages))
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = (try? String(contentsOfFile: messages, encoding: .utf8)) ?? ""
            throw HarnessError("openssl \(arguments.prefix(2).joined(separator: " ")) failed: \(text)")
        }
    }
}
