import PostgresLibPQ

/// Every failure the service reports to a caller, each with its stable problem `code` and HTTP
/// status (see openapi/openapi.yaml). Messages never carry a password, key or full token.
public enum WardenError: Error, Sendable, Equatable {
    case invalidRequest(String, field: String? = nil)
    case unauthorized(String)
    case forbidden(String)
    case poolNotFound(String)
    case poolExists(String)
    case leaseNotFound
    /// The lease ended without its holder releasing it.
    case leaseGone(reason: LeaseEndReason)
    /// A statement is already running on this lease.
    case leaseBusy
    /// A revoke's token prefix matches several live leases.
    case ambiguousPrefix(String, matches: Int)
    /// The borrow's wait ended while its caller still held `limit` leases of the pool, its
    /// `max_per_caller`: no free connection could have served it.
    case callerQuota(pool: String, limit: Int, waited: Duration, retryAfterSeconds: Int)
    /// `limit` borrows (the pool's `max_waiting`) already waited: refused without waiting.
    case tooManyWaiting(pool: String, limit: Int)
    case poolExhausted(pool: String, waited: Duration, retryAfterSeconds: Int)
    /// The borrow's wait ended while an operator had the pool paused.
    case poolPaused(pool: String, waited: Duration, retryAfterSeconds: Int)
    /// The borrow's wait ended while its pool had room under `max` but the `servers:` budget
    /// (`server`, `limit` connections) that the pool shares with the others on that server was full.
    case serverBudgetExhausted(pool: String, server: String, limit: Int, waited: Duration, retryAfterSeconds: Int)
    case connectFailed(pool: String, message: String)
    /// A single shot's server connection broke (or was closed by an immediate recycle) after its
    /// statement was sent: whether the statement ran is unknown.
    case connectionLost(pool: String, reason: LeaseEndReason)
    case sqlError(PGError)
    /// Statement `index` of a transaction or batch failed with `cause` (`sqlError`,
    /// `statementTimeout` or `resultTooLarge`); `attempts` counts a transaction's tries.
    indirect case statementFailed(index: Int, attempts: Int?, cause: WardenError)
    case resultTooLarge(String)
    case statementTimeout(Duration)
    case payloadTooLarge(limit: Int)
    case unsupportedMediaType(String)
    case notAcceptable(String)
    /// No route matches the path.
    case notFound(String)
    /// The path is the API's, the method is not one of its own.
    case methodNotAllowed(method: String, path: String, allowed: [String])
    case notReady(String)
    /// The service was not started from a config file, so there is none to reload.
    case reloadUnavailable(String)
    /// A reloaded config file has these problems; nothing was changed.
    case invalidConfig([ConfigProblem])
    case shuttingDown
    case `internal`(String)

    public var code: String {
        switch self {
        case .invalidRequest: "invalid_request"
        case .unauthorized: "unauthorized"
        case .forbidden: "forbidden"
        case .poolNotFound: "pool_not_found"
        case .poolExists: "pool_exists"
        case .leaseNotFound: "lease_not_found"
        case .leaseGone: "lease_gone"
        case .leaseBusy: "lease_busy"
        case .ambiguousPrefix: "ambiguous_prefix"
        case .callerQuota: "caller_quota"
        case .tooManyWaiting: "too_many_waiting"
        case .poolExhausted: "pool_exhausted"
        case .poolPaused: "pool_paused"
        case .serverBudgetExhausted: "server_budget_exhausted"
        case .connectFailed: "connect_failed"
        case .connectionLost: "connection_lost"
        case .sqlError: "sql_error"
        case .statementFailed(_, _, let cause): cause.code
        case .resultTooLarge: "result_too_large"
        case .statementTimeout: "statement_timeout"
        case .payloadTooLarge: "payload_too_large"
        case .unsupportedMediaType: "unsupported_media_type"
        case .notAcceptable: "not_acceptable"
        case .notFound: "not_found"
        case .methodNotAllowed: "method_not_allowed"
        case .notReady: "not_ready"
        case .reloadUnavailable: "reload_unavailable"
        case .invalidConfig: "invalid_config"
        case .shuttingDown: "pool_exhausted"
        case .internal: "internal"
        }
    }

    public var status: Int {
        switch self {
        case .invalidRequest: 400
        case .unauthorized: 401
        case .forbidden: 403
        case .poolNotFound, .leaseNotFound, .notFound: 404
        case .methodNotAllowed: 405
        case .notAcceptable: 406
        case .unsupportedMediaType: 415
        case .poolExists, .leaseBusy, .ambiguousPrefix, .reloadUnavailable: 409
        case .leaseGone: 410
        case .payloadTooLarge: 413
        case .sqlError, .resultTooLarge, .statementTimeout, .invalidConfig: 422
        case .statementFailed(_, _, let cause): cause.status
        case .callerQuota, .tooManyWaiting: 429
        case .connectFailed, .connectionLost: 502
        case .poolExhausted, .poolPaused, .serverBudgetExhausted, .notReady, .shuttingDown: 503
        case .internal: 500
        }
    }

    public var detail: String {
        switch self {
        case .invalidRequest(let message, _): message
        case .unauthorized(let message), .forbidden(let message): message
        case .poolNotFound(let pool): "no pool named \(pool)"
        case .poolExists(let pool): "a pool named \(pool) exists already"
        case .leaseNotFound: "no such lease"
        case .leaseGone(let reason): "the lease has ended: \(reason.explanation)"
        case .leaseBusy: "a statement is already running on this lease"
        case .ambiguousPrefix(let prefix, let matches): "\(prefix) matches \(matches) live leases; give more of the token"
        case .callerQuota(let pool, let limit, let waited, _):
            "this caller still held its limit of \(limit) lease\(limit == 1 ? "" : "s") in pool \(pool) (max_per_caller) when its wait of \(waited.milliseconds) ms ended; a borrow beyond the limit waits until the caller releases one"
        case .tooManyWaiting(let pool, let limit):
            "\(limit) borrow\(limit == 1 ? "" : "s") already wait\(limit == 1 ? "s" : "") for a connection of pool \(pool), its limit (max_waiting)"
        case .poolExhausted(let pool, let waited, _): "no connection of pool \(pool) became free within \(waited.milliseconds) ms"
        case .poolPaused(let pool, let waited, _):
            "pool \(pool) is paused by an operator: borrows wait until it is resumed, and this one waited \(waited.milliseconds) ms"
        case .serverBudgetExhausted(let pool, let server, let limit, let waited, _):
            "server \(server) is at its budget of \(limit) connection\(limit == 1 ? "" : "s") (servers: max_connections), shared by every pool on it: pool \(pool) had room under its own max, but no connection on the server became free within \(waited.milliseconds) ms"
        case .connectFailed(let pool, let message): "cannot connect for pool \(pool): \(message)"
        case .connectionLost(let pool, let reason):
            "the server connection of pool \(pool) ended while the statement ran (\(reason == .revoked ? "closed by an immediate recycle" : "lost")); whether it ran is unknown, and anything it left open was rolled back"
        case .sqlError(let error): error.message
        case .statementFailed(_, _, let cause): cause.detail
        case .resultTooLarge(let message): message
        case .statementTimeout(let limit): "the statement ran longer than \(limit.milliseconds) ms and was cancelled"
        case .payloadTooLarge(let limit): "the request body is larger than \(limit) bytes"
        case .unsupportedMediaType(let message), .notAcceptable(let message), .notFound(let message): message
        case .methodNotAllowed(let method, let path, let allowed):
            "\(method) is not a method of \(path); it takes \(allowed.joined(separator: ", "))"
        case .notReady(let message), .reloadUnavailable(let message): message
        case .invalidConfig(let problems):
            "the config file has \(problems.count) problem\(problems.count == 1 ? "" : "s") and nothing was changed: "
                + problems.prefix(ConfigError.listedProblems).map(\.description).joined(separator: "; ")
        case .shuttingDown: "the service is shutting down"
        case .internal(let message): message
        }
    }
}

/// Why a lease ended without a release.
public enum LeaseEndReason: String, Sendable, Equatable {
    /// Idle past its TTL.
    case expired
    /// An immediate recycle (or an admin) revoked it.
    case revoked
    /// Its server connection broke.
    case connectionLost = "connection_lost"
    case poolDeleted = "pool_deleted"
    case shutdown
    /// Its holder released it while a statement ran; the statement was cancelled.
    case released
    /// Its replica lost the global slot its connection held and closed the connection.
    case slotLost = "slot_lost"
    /// The replica that owned it is gone (a cluster's peer that does not answer).
    case replicaLost = "replica_lost"

    public var explanation: String {
        switch self {
        case .expired: "it was idle longer than its TTL; its open transaction was rolled back"
        case .revoked: "it was revoked by an immediate recycle; its open transaction was rolled back"
        case .connectionLost: "its server connection was lost; the server rolled back its open transaction"
        case .poolDeleted: "its pool was deleted; its open transaction was rolled back"
        case .shutdown: "the service is shutting down; its open transaction was rolled back"
        case .released: "it was released while this statement ran; the statement was cancelled and its transaction rolled back"
        case .slotLost: "its replica lost the cluster slot its connection held and closed the connection to keep the global cap; its open transaction was rolled back"
        case .replicaLost: "the replica that owned it is gone; the server rolled back its open transaction when the replica's connection ended"
        }
    }
}

extension Duration {
    /// Whole milliseconds, as durations travel in JSON (`*_ms`).
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
