import Foundation
import HTTPTypes
import OpenAPIRuntime
import Synchronization

/// Keeps the last answer's status and body bytes as the service sent them. `--json` prints those
/// bytes rather than a re-encoding of the decoded value, so key order, number spelling and members
/// this client does not know survive; and every refusal, listed in the contract or not, is read
/// from here in one place instead of a switch per operation.
final class ResponseRecorder: ClientMiddleware {
    /// One answer of the service.
    struct Answer: Sendable {
        var status: Int
        var retryAfter: String?
        var body: Data
        /// In a cluster, a pool change's outcome at every replica (`b=200, a=200, c=unreachable`).
        var replicas: String? = nil

        /// The replicas where the change did not apply, as the summary names them; empty when it
        /// applied everywhere or there is no cluster.
        var failedReplicas: [String] {
            (replicas ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { entry in
                guard let status = entry.split(separator: "=").last?.split(separator: " ").first.flatMap({ Int($0) }) else { return !entry.isEmpty }
                return !(200..<300).contains(status)
            }
        }
    }

    static let replicasField = HTTPField.Name("PoolWarden-Replicas")!

    /// Far above any answer the service gives (results are capped by its row and byte limits);
    /// only a runaway peer reaches it.
    static let bodyLimit = 512 * 1024 * 1024

    private let last = Mutex<Answer?>(nil)

    /// The last answer, or nil when none arrived.
    var answer: Answer? { last.withLock { $0 } }

    func intercept(
        _ request: HTTPRequest,
        body: HTTPBody?,
        baseURL: URL,
        operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        let (response, responseBody) = try await next(request, body, baseURL)
        if (200..<300).contains(response.status.code), let type = response.headerFields[.contentType], Self.isStream(type) {
            // A streamed result is written out as it comes (`query --csv`, `--ndjson`): holding it
            // here would undo the point of the stream.
            last.withLock { $0 = Answer(status: response.status.code, retryAfter: nil, body: Data()) }
            return (response, responseBody)
        }
        var bytes = Data()
        if let responseBody { bytes = try await Data(collecting: responseBody, upTo: Self.bodyLimit) }
        let answer = Answer(
            status: response.status.code, retryAfter: response.headerFields[.retryAfter], body: bytes,
            replicas: response.headerFields[Self.replicasField]
        )
        last.withLock { $0 = answer }
        return (response, responseBody == nil ? nil : HTTPBody(bytes))
    }

    static func isStream(_ contentType: String) -> Bool {
        let type = contentType.lowercased()
        return type.hasPrefix("application/x-ndjson") || type.hasPrefix("text/csv")
    }
}
