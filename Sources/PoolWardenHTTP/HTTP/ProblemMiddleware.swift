import Foundation
import HTTPTypes
import OpenAPIRuntime
import PoolWardenRuntime

/// Turns every failure into `application/problem+json` with a stable code, enforces the body size
/// limit (413), and passes an empty body on as no body, so optional bodies may be left out.
/// A body sent without a content type, or as curl's `-d` default (form-urlencoded), is read as
/// the JSON it is; any other declared type than JSON is refused (415). A JSON body must be strict
/// RFC 8259 (see ``StrictJSON``) before the generated decoder reads it.
struct ProblemMiddleware: ServerMiddleware {
    let maxBodyBytes: Int

    func intercept(
        _ request: HTTPRequest,
        body: HTTPBody?,
        metadata: ServerRequestMetadata,
        operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        let bytes: [UInt8]?
        do {
            bytes = try await bufferedBody(body)
        } catch let error as WardenError {
            return Problem.response(for: error)
        }
        var request = request
        if let bytes {
            let declared = request.headerFields[.contentType]?.lowercased() ?? ""
            if declared.isEmpty || declared.hasPrefix("application/x-www-form-urlencoded") {
                request.headerFields[.contentType] = "application/json"
            }
            if request.headerFields[.contentType]?.lowercased().hasPrefix("application/json") == true {
                do throws(WardenError) {
                    try StrictJSON.validate(bytes)
                } catch {
                    return Problem.response(for: error)
                }
            }
        }
        do {
            return try await next(request, bytes.map { HTTPBody($0) }, metadata)
        } catch {
            return Problem.response(for: Self.wardenError(from: error))
        }
    }

    private func bufferedBody(_ body: HTTPBody?) async throws -> [UInt8]? {
        guard let body else { return nil }
        if case .known(let length) = body.length, length > maxBodyBytes {
            throw WardenError.payloadTooLarge(limit: maxBodyBytes)
        }
        var bytes: [UInt8] = []
        for try await chunk in body {
            bytes.append(contentsOf: chunk)
            if bytes.count > maxBodyBytes { throw WardenError.payloadTooLarge(limit: maxBodyBytes) }
        }
        return bytes.isEmpty ? nil : bytes
    }

    /// The caller-facing error for whatever a handler, a middleware or the generated code threw.
    static func wardenError(from error: any Error) -> WardenError {
        if let error = error as? WardenError { return error }
        guard let server = error as? ServerError else { return .internal("internal error") }
        if let inner = server.underlyingError as? WardenError { return inner }
        if let decoding = server.underlyingError as? DecodingError { return .invalidRequest(describe(decoding)) }
        switch server.httpStatus.code {
        case 400: return .invalidRequest(server.causeDescription)
        case 406: return .notAcceptable(server.causeDescription)
        case 415: return .unsupportedMediaType(server.causeDescription)
        default: return .internal("internal error")
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let text = context.codingPath.map(\.stringValue).joined(separator: ".")
            return text.isEmpty ? "the body" : text
        }
        switch error {
        case .dataCorrupted(let context): return "malformed JSON or value at \(path(context)): \(context.debugDescription)"
        case .keyNotFound(let key, let context): return "missing field \((context.codingPath + [key]).map(\.stringValue).joined(separator: "."))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context): return "wrong type at \(path(context)): \(context.debugDescription)"
        @unknown default: return "the body could not be read"
        }
    }
}
