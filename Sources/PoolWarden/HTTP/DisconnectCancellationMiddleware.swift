import Hummingbird

/// Cancels a borrow whose HTTP client hangs up while it waits for a connection, so that the pool
/// drops the waiter instead of handing a lease to nobody (invariant 6). Only borrows: Hummingbird
/// closes the connection after such a request, which would cost keep-alive everywhere else. The
/// answer says `Connection: close`, so that a keep-alive client does not send its next request
/// into the closing socket and lose the answer (and with it, perhaps, a lease).
///
/// The body is read (up to `maxBodyBytes`, else 413) before the hang-up watch starts. The watch
/// feeds the body to the handler through a stream that holds four buffers; a handler that answers
/// without reading a longer body (a 413 for a declared length, say) left the watch blocked on
/// the fifth buffer forever, and with it the answer and the connection.
struct DisconnectCancellationMiddleware<Context: RequestContext>: RouterMiddleware {
    var maxBodyBytes = WardenConfig.defaultMaxBodyBytes

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .post, request.uri.path.hasPrefix("/v1/pools/"), request.uri.path.hasSuffix("/leases") else {
            return try await next(request, context)
        }
        var request = request
        do {
            _ = try await request.collectBody(upTo: maxBodyBytes)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            var response = RouteFallbackMiddleware<Context>.problem(.payloadTooLarge(limit: maxBodyBytes))
            response.headers[.connection] = "close"
            return response
        }
        var response = try await request.body.consumeWithCancellationOnInboundClose { [request] body in
            try await next(Request(head: request.head, body: body), context)
        }
        response.headers[.connection] = "close"
        return response
    }
}
