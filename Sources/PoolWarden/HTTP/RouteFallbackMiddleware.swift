import Foundation
import HTTPTypes
import Hummingbird

/// What the router answers on its own, made to look like the rest of the API: an unknown path or
/// method is a problem+json 404 instead of an empty body. It also drops `Accept`, since every
/// route has one representation per status and a stricter Accept would only turn errors into 406.
struct RouteFallbackMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var head = request.head
        head.headerFields[.accept] = nil
        let request = Request(head: head, body: request.body)
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound || error.status == .methodNotAllowed {
            return Self.problem(.notFound("no route for \(request.method) \(request.uri.path)"))
        } catch let error as HTTPError {
            return Self.problem(error.status.code >= 500 ? .internal("internal error") : .invalidRequest(error.body ?? error.status.reasonPhrase))
        }
    }

    static func problem(_ error: WardenError) -> Response {
        let head = Problem.head(for: error)
        return Response(status: head.status, headers: head.headerFields, body: .init(byteBuffer: ByteBuffer(bytes: Problem.body(for: error))))
    }
}
