import Hummingbird
import NIOCore
import PoolWardenRuntime

/// Answers `GET /v1/pools`, the one answer that grows with the whole service (every pool and
/// connection), without Foundation's `JSONEncoder`: the same generated `PoolList` value, written
/// by `StreamingJSONEncoder` in a fraction of the time. Only the plain case is answered here (a
/// valid key, no query, JSON acceptable); everything else — errors included — goes on to the
/// generated handler, which stays the one definition of the operation.
struct PoolListMiddleware: RouterMiddleware {
    typealias Context = WardenRequestContext

    let registry: PoolRegistry
    let callers: CallerDirectory

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // One value for both identifying and counting: a reload in between must not count the
        // key of one set of callers against the other's.
        let callers = callers.current
        guard request.method == .get, request.uri.path == "/v1/pools", request.uri.query == nil,
            Self.acceptsJSON(request.headers[values: .accept]),
            case .success(let match) = callers.identify(authorizationHeader: request.headers[.authorization], peerSubject: RequestPeer.subject)
        else {
            // Authenticated (and counted) once, by the full path.
            return try await next(request, context)
        }
        let list = Components.Schemas.PoolList(registry, caller: match.identity)
        guard let bytes = try? StreamingJSONEncoder().encode(list) else { return try await next(request, context) }
        callers.record(.success(match))
        return Response(
            status: .ok,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }

    /// No `Accept`, or one that names JSON or anything plainly; finer negotiation is the
    /// generated handler's.
    static func acceptsJSON(_ values: [String]) -> Bool {
        values.allSatisfy { value in
            value.split(separator: ",").contains { item in
                let type = item.split(separator: ";")[0].trimmingCharacters(in: .whitespaces).lowercased()
                return type == "*/*" || type == "application/json" || type == "application/*"
            }
        }
    }
}
