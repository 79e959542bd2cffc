import HTTPTypes
import OpenAPIRuntime
import PoolWardenRuntime

/// Checks the bearer key of every /v1 operation and makes the caller known to the handler.
struct AuthMiddleware: ServerMiddleware {
    /// Read once per request: a reload's new callers apply from the next one.
    let callers: CallerDirectory

    /// Operations anyone may call: probes, metrics and the contract itself.
    static let open: Set<String> = ["healthz", "readyz", "metrics", "getOpenAPISpec"]

    func intercept(
        _ request: HTTPRequest,
        body: HTTPBody?,
        metadata: ServerRequestMetadata,
        operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        if Self.open.contains(operationID) {
            return try await next(request, body, metadata)
        }
        let caller = try callers.current.authenticate(
            authorizationHeader: request.headerFields[.authorization], peerSubject: RequestPeer.subject
        ).get()
        return try await RequestCaller.$current.withValue(caller) {
            try await next(request, body, metadata)
        }
    }
}
