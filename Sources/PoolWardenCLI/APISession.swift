import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import OpenAPIAsyncHTTPClient
import OpenAPIRuntime

/// One subcommand's conversation with the service: the client generated from the contract over
/// AsyncHTTPClient (which, unlike URLSession on Linux, takes a CA file and a client certificate),
/// the key as a bearer middleware, and the raw answer kept for `--json` and refusals.
struct APISession {
    /// Longer than the longest borrow wait the contract allows (300 s), so a waiting borrow is
    /// never cut short by the client.
    static let defaultTimeout: Duration = .seconds(330)

    let baseURL: URL
    private let client: Client
    private let json: Bool
    private let recorder: ResponseRecorder
    private let keyGiven: Bool
    private let httpClient: HTTPClient

    /// Fails with ``CLIFailure/unusableTLSFile(_:reason:)`` when a CA, certificate or key file
    /// cannot be read.
    init(options: ClientOptions, timeout: Duration = Self.defaultTimeout) throws {
        baseURL = try options.baseURL()
        json = options.json
        keyGiven = options.key != nil
        recorder = ResponseRecorder()
        let nanoseconds = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: try Self.tlsConfiguration(options),
            timeout: .init(connect: .seconds(10))
        )
        // A refused or unreachable address fails the command at once: AsyncHTTPClient would
        // otherwise keep retrying the connect until the request's deadline.
        configuration.connectionPool.retryConnectionEstablishment = false
        httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let transport = AsyncHTTPClientTransport(configuration: .init(client: httpClient, timeout: .nanoseconds(nanoseconds)))
        var middlewares: [any ClientMiddleware] = [recorder]
        if let key = options.key { middlewares.insert(BearerAuth(key: key), at: 0) }
        client = Client(serverURL: baseURL, transport: transport, middlewares: middlewares)
    }

    /// Ends the session's connections; every session is shut down once its command is done.
    func shutdown() async {
        try? await httpClient.shutdown()
    }

    private static func tlsConfiguration(_ options: ClientOptions) throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let file = options.caFile {
            let certificates = try readTLSFile(file, what: "CA file") { try NIOSSLCertificate.fromPEMFile($0) }
            tls.trustRoots = .certificates(certificates)
        }
        if let file = options.certificateFile, let keyFile = options.certificateKeyFile {
            let chain = try readTLSFile(file, what: "client certificate") { try NIOSSLCertificate.fromPEMFile($0) }
            let key = try readTLSFile(keyFile, what: "client certificate key") { try NIOSSLPrivateKey(file: $0, format: .pem) }
            tls.certificateChain = chain.map { .certificate($0) }
            tls.privateKey = .privateKey(key)
            // Checked here, where the files are named: at the connect the same mistake would read
            // as a service that cannot be reached.
            guard (try? NIOSSLContext(configuration: tls)) != nil else {
                throw CLIFailure.unusableTLSFile(keyFile, reason: "client certificate key is not the key of \(file)")
            }
        }
        return tls
    }

    private static func readTLSFile<T>(_ path: String, what: String, _ read: (String) throws -> T) throws -> T {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw CLIFailure.unusableTLSFile(path, reason: "\(what) cannot be read")
        }
        do {
            let value = try read(path)
            if let list = value as? [NIOSSLCertificate], list.isEmpty {
                throw CLIFailure.unusableTLSFile(path, reason: "\(what) holds no PEM certificate")
            }
            return value
        } catch let failure as CLIFailure {
            throw failure
        } catch {
            throw CLIFailure.unusableTLSFile(path, reason: "\(what) is not valid PEM")
        }
    }

    /// Makes one call. A failure that is not an answer becomes ``CLIFailure/unreachable(_:reason:)``;
    /// an error answer the client could not decode is still a refusal.
    func send<Output>(_ call: (Client) async throws -> Output) async throws -> Output {
        do {
            return try await call(client)
        } catch {
            if let answer = recorder.answer {
                if !(200..<300).contains(answer.status) { throw CLIFailure.refused(answer, keyGiven: keyGiven) }
                throw CLIFailure.unusable(baseURL, reason: Self.reason(error))
            }
            throw CLIFailure.unreachable(baseURL, reason: Self.reason(error))
        }
    }

    /// The failure for an answer that is not the operation's success: the contract makes every
    /// such answer a problem, whatever its status.
    func refusal() -> CLIFailure {
        guard let answer = recorder.answer else { return .unusable(baseURL, reason: "no answer recorded") }
        return .refused(answer, keyGiven: keyGiven)
    }

    /// Writes a streamed answer to stdout chunk by chunk as it arrives. A stream that failed
    /// midway fails the command after its rows: an NDJSON error line is a refusal (its problem
    /// on stderr, exit 2), a CSV cut off without its last chunk an unusable answer (exit 3).
    func stream(_ body: HTTPBody) async throws {
        var lastLine = Data()
        do {
            for try await chunk in body {
                let data = Data(chunk)
                FileHandle.standardOutput.write(data)
                // Only the last line matters, and it is at most one problem document long.
                if let newline = data.dropLast().lastIndex(of: UInt8(ascii: "\n")) {
                    lastLine = data[(newline + 1)...]
                } else {
                    lastLine.append(data)
                    if lastLine.count > 64 << 10 { lastLine = Data(lastLine.suffix(64 << 10)) }
                }
            }
        } catch {
            throw CLIFailure.unusable(baseURL, reason: "the stream was cut off before its end (the statement failed or the connection broke)")
        }
        let errorPrefix = Data(#"{"error":"#.utf8)
        if lastLine.starts(with: errorPrefix),
           let line = try? JSONSerialization.jsonObject(with: lastLine) as? [String: Any],
           let problem = line["error"] as? [String: Any],
           let data = try? JSONSerialization.data(withJSONObject: problem) {
            let status = problem["status"] as? Int ?? 422
            throw CLIFailure.refused(ResponseRecorder.Answer(status: status, retryAfter: nil, body: data), keyGiven: keyGiven)
        }
    }

    /// Prints the answer: its JSON body as received under `--json`, else `text()` (nothing for an
    /// empty text).
    func emit(_ text: @autoclosure () -> String) {
        if json {
            if let body = recorder.answer?.body { write(body) }
        } else {
            let text = text()
            if !text.isEmpty { print(text) }
        }
        // A change that reached only part of a cluster succeeded here; it must not look complete.
        if let failed = recorder.answer?.failedReplicas, !failed.isEmpty {
            printError("warning: not applied at every replica: \(failed.joined(separator: ", "))")
        }
    }

    /// Tells the user why the command failed, on stderr; under `--json` the problem body also goes
    /// to stdout, for scripts that parse every answer.
    func report(_ failure: CLIFailure) {
        if json, let body = failure.body { write(body) }
        printError(failure.message)
    }

    private func write(_ body: Data) {
        guard !body.isEmpty else { return }
        FileHandle.standardOutput.write(body)
        if body.last != UInt8(ascii: "\n") { FileHandle.standardOutput.write(Data("\n".utf8)) }
    }

    /// A short reason for a failed call. Never the request: it carries the key, and the URL of a
    /// lease route carries the token.
    private static func reason(_ error: any Error) -> String {
        var error = error
        while let wrapped = error as? ClientError { error = wrapped.underlyingError }
        if let connection = error as? NIOConnectionError, let first = connection.connectionErrors.first {
            error = first.error
        }
        if let io = error as? IOError {
            switch io.errnoCode {
            case ECONNREFUSED: return "connection refused"
            case ENETUNREACH, EHOSTUNREACH: return "network unreachable"
            case ETIMEDOUT: return "timed out"
            case ECONNRESET, EPIPE: return "the connection was lost before the answer"
            default: return "network error (errno \(io.errnoCode))"
            }
        }
        if error is NIOConnectionError || error is SocketAddressError { return "host not found" }
        if let tls = error as? NIOSSLError { return "TLS failed: \(tlsReason(tls))" }
        if let extra = error as? NIOSSLExtraError, extra == .failedToValidateHostname {
            return "TLS failed: the service's certificate does not name the host of the URL"
        }
        if error is NIOSSLExtraError { return "TLS failed: \(error)" }
        if error is BoringSSLError { return "TLS failed: the service refused this client's certificate, or none was sent" }
        if let http = error as? HTTPClientError {
            switch http {
            case .connectTimeout: return "timed out connecting"
            case .deadlineExceeded, .readTimeout: return "timed out"
            case .remoteConnectionClosed: return "the connection was lost before the answer"
            default: return "\(http)"
            }
        }
        if error is DecodingError { return "the answer does not match the contract" }
        return String(describing: type(of: error))
    }

    private static func tlsReason(_ error: NIOSSLError) -> String {
        switch error {
        case .handshakeFailed(.sslError(let errors)):
            let text = errors.map(\.description).joined(separator: "; ")
            if text.contains("CERTIFICATE_VERIFY_FAILED") {
                return "the service's certificate is not signed by a trusted CA (give its CA with --cacert or POOLWARDEN_CACERT)"
            }
            if text.contains("WRONG_VERSION_NUMBER") { return "the service does not speak TLS on this port (try http://)" }
            return "handshake failed (\(text))"
        case .uncleanShutdown:
            return "the connection was closed during the handshake"
        default:
            return "\(error)"
        }
    }
}
