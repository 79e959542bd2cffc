import Hummingbird

/// Cancels a borrow whose HTTP client hangs up while it waits for a connection, so that the pool
/// drops the waiter instead of handing a lease to nobody (invariant 6). Only borrows: Hummingbird
/// closes the connection after such a request, which would cost keep-alive everywhere else. The
/// answer says `Connection: close`, so that a keep-alive client does not send its next request
/// into the closing socket and lose the answer (and with it, perhaps, a lease).
struct DisconnectCancellationMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .post, request.uri.path.hasPrefix("/v1/pools/"), request.uri.path.hasSuffix("/leases") else {
            return try await next(request, context)
        }
        var response = try await request.body.consumeWithCancellationOnInboundClose { body in
            try await next(Request(head: request.head, body: body), context)
        }
        response.headers[.connection] = "close"
        return response
    }
}
