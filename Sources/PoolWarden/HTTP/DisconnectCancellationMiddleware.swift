import Hummingbird

/// Lets a borrow know when its HTTP client hangs up while it waits for a connection, so that the
/// pool drops the waiter instead of handing a lease to nobody (invariant 6). Only borrows: every
/// other operation either answers at once or runs a statement that its timeout bounds.
struct DisconnectCancellationMiddleware: RouterMiddleware {
    typealias Context = WardenRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .post, request.uri.path.hasPrefix("/v1/pools/"), request.uri.path.hasSuffix("/leases") else {
            return try await next(request, context)
        }
        let hangUp = try await ClientHangUpHandler.hangUp(of: context.channel)
        return try await ClientHangUp.$current.withValue(hangUp) { try await next(request, context) }
    }
}
