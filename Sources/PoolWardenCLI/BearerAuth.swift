import Foundation
import HTTPTypes
import OpenAPIRuntime

/// Adds `Authorization: Bearer <key>` to every request: the generator does not act on the
/// contract's `security` section, so the key travels by middleware.
struct BearerAuth: ClientMiddleware {
    let key: String

    func intercept(
        _ request: HTTPRequest,
        body: HTTPBody?,
        baseURL: URL,
        operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        var request = request
        request.headerFields[.authorization] = "Bearer \(key)"
        return try await next(request, body, baseURL)
    }
}
