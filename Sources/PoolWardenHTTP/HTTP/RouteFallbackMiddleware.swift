import Foundation
import HTTPTypes
import Hummingbird
import PoolWardenRuntime

/// What the router answers on its own, made to look like the rest of the API: an unknown path is a
/// problem+json 404 instead of an empty body, and a known path asked with a method it does not
/// take is a 405 naming the ones it does (`Allow`). It also drops `Accept`, since most routes have
/// one representation per status and a stricter Accept would only turn errors into 406; it is
/// kept only where it chooses something: a query that asks for a stream (NDJSON or CSV).
struct RouteFallbackMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var head = request.head
        if !Self.asksForStream(head) { head.headerFields[.accept] = nil }
        let request = Request(head: head, body: request.body)
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound || error.status == .methodNotAllowed {
            let path = request.uri.path
            if let route = RouteTable.api.route(for: path), !route.methods.contains(request.method.rawValue) {
                return Self.problem(.methodNotAllowed(method: request.method.rawValue, path: route.template, allowed: route.methods))
            }
            return Self.problem(.notFound("no route for \(request.method) \(Self.shown(path))"))
        } catch let error as HTTPError {
            return Self.problem(error.status.code >= 500 ? .internal("internal error") : .invalidRequest(error.body ?? error.status.reasonPhrase))
        }
    }

    /// A query whose `Accept` names a stream form: the handler negotiates it.
    static func asksForStream(_ head: HTTPRequest) -> Bool {
        guard head.method == .post, head.path?.split(separator: "?").first?.hasSuffix("/query") == true else { return false }
        return head.headerFields[values: .accept].contains { value in
            let lowered = value.lowercased()
            return lowered.contains("application/x-ndjson") || lowered.contains("text/csv")
        }
    }

    /// The path with any lease token cut to its prefix: a caller's typo must not put a token in an
    /// answer or a log.
    static func shown(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("pwl_") ? LeaseToken.displayPrefix(String($0)) + "…" : String($0) }
            .joined(separator: "/")
    }

    static func problem(_ error: WardenError) -> Response {
        let head = Problem.head(for: error)
        return Response(status: head.status, headers: head.headerFields, body: .init(byteBuffer: ByteBuffer(bytes: Problem.body(for: error))))
    }
}
