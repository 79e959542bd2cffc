/// The one error type of the driver: what went wrong, PostgreSQL's own fields when the server sent
/// them, and whether the connection can still be used.
///
/// Messages never hold a password: connect errors pass through `PGRedaction` before they are stored.
public struct PGError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// Opening the connection failed (refused, authentication, unknown database, bad conninfo).
        case connectFailed = "connect_failed"
        /// Opening the connection did not finish before its deadline.
        case connectTimeout = "connect_timeout"
        /// The server closed the connection or the socket broke while it was in use.
        case connectionLost = "connection_lost"
        /// The connection was closed by this process before or during the call.
        case connectionClosed = "connection_closed"
        /// The server rejected the statement; the connection stays usable.
        case sql = "sql_error"
        /// The result passed a row or byte limit; its rest was discarded and the connection stays usable.
        case resultTooLarge = "result_too_large"
        /// A feature the driver does not offer (COPY, several statements) or a call made while
        /// another call is running on the same connection.
        case unsupported = "unsupported"
    }

    public var kind: Kind
    public var sqlState: String?
    public var severity: String?
    public var message: String
    public var detail: String?
    public var hint: String?
    /// 1-based character position in the statement, when the server reported one.
    public var position: Int?
    public var connectionUsable: Bool

    public init(
        kind: Kind,
        message: String,
        sqlState: String? = nil,
        severity: String? = nil,
        detail: String? = nil,
        hint: String? = nil,
        position: Int? = nil,
        connectionUsable: Bool
    ) {
        self.kind = kind
        self.message = message
        self.sqlState = sqlState
        self.severity = severity
        self.detail = detail
        self.hint = hint
        self.position = position
        self.connectionUsable = connectionUsable
    }

    public var description: String {
        var text = "\(kind.rawValue)"
        if let sqlState { text += " [\(sqlState)]" }
        if let severity { text += " \(severity):" }
        text += " \(message)"
        if let detail { text += " (detail: \(detail))" }
        if let hint { text += " (hint: \(hint))" }
        return text
    }
}
