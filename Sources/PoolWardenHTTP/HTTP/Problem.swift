import Foundation
import HTTPTypes
import OpenAPIRuntime
import PoolWardenRuntime

/// RFC 9457 problem documents for `WardenError`s, as openapi.yaml's Problem schema describes them.
enum Problem {
    static let contentType = "application/problem+json"

    static func schema(for error: WardenError) -> Components.Schemas.Problem {
        if case .statementFailed(let index, let attempts, let cause) = error {
            var problem = schema(for: cause)
            problem.statementIndex = index
            problem.attempts = attempts
            return problem
        }
        var problem = Components.Schemas.Problem(
            _type: "urn:poolwarden:problem:\(error.code)",
            title: title(for: error),
            status: error.status,
            detail: error.detail,
            code: Components.Schemas.ProblemCode(rawValue: error.code) ?? .internalError
        )
        switch error {
        case .invalidRequest(_, let field):
            problem.field = field
        case .poolNotFound(let pool), .poolExists(let pool), .callerQuota(let pool, _, _, _), .tooManyWaiting(let pool, _),
             .poolExhausted(let pool, _, _), .poolPaused(let pool, _, _), .connectFailed(let pool, _):
            problem.pool = pool
        case .serverBudgetExhausted(let pool, let server, _, _, _):
            problem.pool = pool
            problem.server = server
        case .leaseGone(let reason):
            problem.reason = switch reason {
            case .expired: .expired
            case .revoked, .shutdown: .revoked
            case .connectionLost: .connectionLost
            case .poolDeleted: .poolDeleted
            case .released: .released
            case .slotLost: .slotLost
            case .replicaLost: .replicaLost
            }
        case .invalidConfig(let problems):
            problem.problems = problems.map(Components.Schemas.ConfigProblem.init)
        case .statementTimeout:
            // What PostgreSQL reports for the cancel the service sent, so that clients handling
            // query_canceled by SQLSTATE see it here too.
            problem.sqlstate = "57014"
        case .sqlError(let error):
            problem.sqlstate = error.sqlState
            problem.severity = error.severity
            problem.hint = error.hint
            problem.pgDetail = error.detail
            problem.position = error.position
        default:
            break
        }
        return problem
    }

    static func response(for error: WardenError) -> (HTTPResponse, HTTPBody?) {
        (head(for: error), HTTPBody(body(for: error)))
    }

    /// Status and headers: Retry-After for 429s and 503s, WWW-Authenticate for 401.
    static func head(for error: WardenError) -> HTTPResponse {
        if case .statementFailed(_, _, let cause) = error { return head(for: cause) }
        var fields: HTTPFields = [.contentType: contentType]
        switch error {
        case .poolExhausted(_, _, let seconds), .poolPaused(_, _, let seconds), .callerQuota(_, _, _, let seconds),
             .serverBudgetExhausted(_, _, _, _, let seconds):
            fields[.retryAfter] = String(seconds)
        case .tooManyWaiting, .notReady, .shuttingDown: fields[.retryAfter] = "1"
        case .unauthorized: fields[.wwwAuthenticate] = "Bearer realm=\"poolwarden\""
        case .methodNotAllowed(_, _, let allowed): fields[.allow] = allowed.joined(separator: ", ")
        default: break
        }
        return HTTPResponse(status: .init(code: error.status), headerFields: fields)
    }

    /// The problem document's JSON bytes.
    static func body(for error: WardenError) -> Data {
        (try? encoder.encode(schema(for: error))) ?? Data()
    }

    /// Keys sorted, as in every other answer: unsorted, they come in hash order.
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    private static func title(for error: WardenError) -> String {
        switch error {
        case .invalidRequest: "Invalid request"
        case .unauthorized: "Unauthorized"
        case .forbidden: "Forbidden"
        case .poolNotFound: "Pool not found"
        case .poolExists: "Pool exists"
        case .leaseNotFound: "Lease not found"
        case .leaseGone: "Lease gone"
        case .leaseBusy: "Lease busy"
        case .ambiguousPrefix: "Ambiguous prefix"
        case .callerQuota: "Caller quota reached"
        case .tooManyWaiting: "Too many waiting"
        case .poolExhausted: "Pool exhausted"
        case .poolPaused: "Pool paused"
        case .serverBudgetExhausted: "Server budget exhausted"
        case .connectFailed: "Cannot connect to PostgreSQL"
        case .connectionLost: "Connection lost"
        case .sqlError: "SQL error"
        case .statementFailed(_, _, let cause): title(for: cause)
        case .resultTooLarge: "Result too large"
        case .statementTimeout: "Statement timeout"
        case .payloadTooLarge: "Payload too large"
        case .unsupportedMediaType: "Unsupported media type"
        case .notAcceptable: "Not acceptable"
        case .notFound: "Not found"
        case .methodNotAllowed: "Method not allowed"
        case .notReady: "Not ready"
        case .reloadUnavailable: "Reload unavailable"
        case .invalidConfig: "Invalid config"
        case .shuttingDown: "Shutting down"
        case .internal: "Internal error"
        }
    }
}
