import Hummingbird
import PoolWardenRuntime

/// Lets a borrow — a lease's, a single shot's or a transaction's — know when its HTTP client hangs up while it waits
/// for a connection, so that the pool drops the waiter instead of handing a lease to nobody or
/// running a statement nobody will hear of (invariant 6). Every other operation either answers
/// at once or runs a statement that its timeout bounds. The watch is a handler in the
/// connection's pipeline, so it costs neither keep-alive nor a task.
struct DisconnectCancellationMiddleware: RouterMiddleware {
    typealias Context = WardenRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        // A lease's query is watched too: streamed, it stops when its reader hangs up.
        let watched = path.hasPrefix("/v1/pools/") && (path.hasSuffix("/leases") || path.hasSuffix("/query") || path.hasSuffix("/transaction"))
            || path.hasPrefix("/v1/leases/") && path.hasSuffix("/query")
        guard request.method == .post, watched else {
            return try await next(request, context)
        }
        let hangUp = await ClientHangUpHandler.hangUp(of: context.channel)
        return try await ClientHangUp.$current.withValue(hangUp) { try await next(request, context) }
    }
}
