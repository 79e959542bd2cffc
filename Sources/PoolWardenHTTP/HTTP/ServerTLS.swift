import Foundation
import NIOSSL
import PoolWardenRuntime
import Synchronization

/// The TLS side of the listener: the certificate, key and client CA of `listen.tls`, made into a
/// context that every new connection takes. A reload swaps the context, so a renewed certificate
/// serves the next handshake without a restart; connections already open keep the one they
/// started with.
public final class ServerTLS: Sendable {
    /// Why `listen.tls`'s files cannot be used, naming the field; never a file's content.
    public struct SetupError: Error, CustomStringConvertible {
        public let field: String
        public let message: String

        public var description: String { "\(field): \(message)" }
    }

    private struct State {
        var context: NIOSSLContext
        var settings: ListenTLS
        /// The files' bytes when read, to tell a reload whether anything changed.
        var contents: [Data?]
    }

    private let state: Mutex<State>

    public init(_ settings: ListenTLS) throws(SetupError) {
        state = Mutex(State(context: try Self.makeContext(settings), settings: settings, contents: Self.contents(settings)))
    }

    /// The context for a connection accepted now.
    var context: NIOSSLContext { state.withLock { $0.context } }

    /// The files in use.
    public var settings: ListenTLS { state.withLock { $0.settings } }

    /// Whether clients must present a certificate.
    var requiresClientCertificates: Bool { settings.requiresClientCertificates }

    /// Reads the files again (they may have been renewed in place) and takes them for the next
    /// connection. Returns what changed, for the reload's report (nothing when the files and
    /// their contents are the same); throws, changing nothing, when the new files cannot be used.
    @discardableResult
    public func reload(_ settings: ListenTLS) throws(SetupError) -> [String] {
        install(try Self.makeContext(settings), settings)
    }

    private func install(_ context: NIOSSLContext, _ settings: ListenTLS) -> [String] {
        let contents = Self.contents(settings)
        let old = state.withLock { state in
            let old = state
            state = State(context: context, settings: settings, contents: contents)
            return old
        }
        var changes: [String] = []
        if old.settings.certificateFile != settings.certificateFile || old.contents[0] != contents[0]
            || old.settings.keyFile != settings.keyFile || old.contents[1] != contents[1] {
            changes.append("certificate and key read again from \(settings.certificateFile) and \(settings.keyFile)")
        }
        if old.settings.clientCAFile != settings.clientCAFile || old.contents[2] != contents[2] {
            changes.append("client CA: \(old.settings.clientCAFile ?? "none") -> \(settings.clientCAFile ?? "none (client certificates no longer asked for)")")
        }
        return changes
    }

    private static func contents(_ settings: ListenTLS) -> [Data?] {
        [settings.certificateFile, settings.keyFile, settings.clientCAFile].map { path in
            path.flatMap { FileManager.default.contents(atPath: $0) }
        }
    }

    /// Checks that the files make a working server context: `--check-config` and a reload call
    /// it before anything changes.
    public static func validate(_ settings: ListenTLS) throws(SetupError) {
        _ = try makeContext(settings)
    }

    /// The first certificate's expiry, for the start log.
    public var certificateExpiry: Date? {
        guard let certificate = try? NIOSSLCertificate.fromPEMFile(settings.certificateFile).first else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(certificate.notValidAfter))
    }

    private static func makeContext(_ settings: ListenTLS) throws(SetupError) -> NIOSSLContext {
        let chain = try read("listen.tls.cert_file", settings.certificateFile) { try NIOSSLCertificate.fromPEMFile($0) }
        guard !chain.isEmpty else {
            throw SetupError(field: "listen.tls.cert_file", message: "\(settings.certificateFile): holds no PEM certificate")
        }
        let key = try read("listen.tls.key_file", settings.keyFile) { try NIOSSLPrivateKey(file: $0, format: .pem) }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
        configuration.minimumTLSVersion = .tlsv12
        if let file = settings.clientCAFile {
            let authorities = try read("listen.tls.client_ca_file", file) { try NIOSSLCertificate.fromPEMFile($0) }
            guard !authorities.isEmpty else {
                throw SetupError(field: "listen.tls.client_ca_file", message: "\(file): holds no PEM certificate")
            }
            // Verification without a host name: a client certificate names a caller, not a host.
            // BoringSSL then refuses a handshake without a certificate signed by these CAs.
            configuration.certificateVerification = .noHostnameVerification
            configuration.trustRoots = .certificates(authorities)
            configuration.sendCANameList = true
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw SetupError(
                field: "listen.tls.key_file",
                message: "\(settings.keyFile) cannot serve with \(settings.certificateFile) (is it the certificate's key?): \(error)"
            )
        }
    }

    private static func read<T>(_ field: String, _ path: String, _ load: (String) throws -> T) throws(SetupError) -> T {
        do {
            return try load(path)
        } catch {
            // BoringSSL's reason only: the file may be a key, and must not be quoted.
            throw SetupError(field: field, message: "\(path): not usable PEM (\(error))")
        }
    }
}

/// A reload reads `listen.tls`'s files again: checked in `prepare` (a key that is not the
/// certificate's refuses the whole reload), taken for the next connection at commit. Turning TLS
/// on or off needs a restart; the reloader reports `listen.tls` as such.
extension ServerTLS: ReloadParticipant {
    public func prepare(_ new: WardenConfig, running: WardenConfig) async throws(ConfigError) -> ReloadCommit {
        guard let settings = new.tls else { return { [] } }
        let context: NIOSSLContext
        do {
            context = try Self.makeContext(settings)
        } catch {
            throw ConfigError(path: error.field, message: error.message)
        }
        return { [self] in
            install(context, settings).map { ReloadChange(kind: .other, name: "listen.tls", detail: $0) }
        }
    }
}
