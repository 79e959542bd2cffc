/// One column of a result: its name, its type's OID and the type's name.
public struct PGColumn: Sendable, Hashable {
    public var name: String
    public var typeOID: UInt32
    public var typeName: String

    public init(name: String, typeOID: UInt32, typeName: String) {
        self.name = name
        self.typeOID = typeOID
        self.typeName = typeName
    }
}

/// The result of one statement, values already decoded for JSON.
public struct PGQueryResult: Sendable, Hashable {
    /// The command tag's verb, such as `SELECT`, `INSERT` or `BEGIN`.
    public var command: String
    /// Rows returned, or rows affected for INSERT/UPDATE/DELETE/MERGE/COPY; nil when the command
    /// reports none (BEGIN, CREATE TABLE).
    public var rowCount: Int?
    public var columns: [PGColumn]
    public var rows: [[JSONValue]]

    public init(command: String, rowCount: Int?, columns: [PGColumn], rows: [[JSONValue]]) {
        self.command = command
        self.rowCount = rowCount
        self.columns = columns
        self.rows = rows
    }
}

/// Bounds on what one statement may return; past either, the rest is discarded and the call
/// fails with `.resultTooLarge` while the connection stays usable.
public struct PGResultLimits: Sendable, Hashable {
    public var maxRows: Int
    /// What the decoded result may hold in memory: each value's text plus its slot (24 bytes,
    /// NULL and empty values included) and, past 15 bytes, a string's heap header (48); each row
    /// 64; each column's description. See `PGResultCost`.
    public var maxBytes: Int

    public init(maxRows: Int = .max, maxBytes: Int = .max) {
        self.maxRows = maxRows
        self.maxBytes = maxBytes
    }

    public static let unlimited = PGResultLimits()
}

/// libpq's view of the session's transaction.
public enum PGTransactionStatus: String, Sendable, Hashable {
    case idle
    /// A statement is running.
    case active
    case inTransaction = "in_transaction"
    case inFailedTransaction = "in_failed_transaction"
    /// The connection is bad.
    case unknown
}
