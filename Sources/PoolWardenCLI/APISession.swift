import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import OpenAPIRuntime
import OpenAPIURLSession

/// One subcommand's conversation with the service: the client generated from the contract over
/// URLSession, the key as a bearer middleware, and the raw answer kept for `--json` and refusals.
struct APISession {
    /// Longer than the longest borrow wait the contract allows (300 s), so a waiting borrow is
    /// never cut short by the client.
    static let defaultTimeout: Duration = .seconds(330)

    let baseURL: URL
    private let client: Client
    private let json: Bool
    private let recorder: ResponseRecorder
    private let keyGiven: Bool

    init(options: ClientOptions, timeout: Duration = Self.defaultTimeout) throws {
        baseURL = try options.baseURL()
        json = options.json
        keyGiven = options.key != nil
        recorder = ResponseRecorder()
        let configuration = URLSessionConfiguration.ephemeral
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        configuration.timeoutIntervalForRequest = seconds
        configuration.timeoutIntervalForResource = seconds
        let transport = URLSessionTransport(configuration: .init(session: URLSession(configuration: configuration)))
        var middlewares: [any ClientMiddleware] = [recorder]
        if let key = options.key { middlewares.insert(BearerAuth(key: key), at: 0) }
        client = Client(serverURL: baseURL, transport: transport, middlewares: middlewares)
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

    /// Prints the answer: its JSON body as received under `--json`, else `text()` (nothing for an
    /// empty text).
    func emit(_ text: @autoclosure () -> String) {
        if json {
            if let body = recorder.answer?.body { write(body) }
        } else {
            let text = text()
            if !text.isEmpty { print(text) }
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
        if let urlError = error as? URLError {
            switch urlError.code {
            case .cannotConnectToHost: return "connection refused"
            case .timedOut: return "timed out"
            case .cannotFindHost, .dnsLookupFailed: return "host not found"
            case .networkConnectionLost: return "the connection was lost before the answer"
            case .notConnectedToInternet: return "network unreachable"
            case .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate,
                 .serverCertificateNotYetValid, .serverCertificateHasUnknownRoot:
                return "TLS failed (\(urlError.code.rawValue))"
            default: return "network error \(urlError.code.rawValue)"
            }
        }
        if error is DecodingError { return "the answer does not match the contract" }
        return String(describing: type(of: error))
    }
}
