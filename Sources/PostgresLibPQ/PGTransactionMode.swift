/// A transaction's isolation level, as `BEGIN ISOLATION LEVEL` spells it.
public enum PGIsolationLevel: String, Sendable, Hashable, CaseIterable {
    case readCommitted = "READ COMMITTED"
    case repeatableRead = "REPEATABLE READ"
    case serializable = "SERIALIZABLE"
}

/// How a transaction begins. nil leaves a characteristic to the session's defaults
/// (`default_transaction_isolation` and its siblings), as a bare `BEGIN` would.
public struct PGTransactionMode: Sendable, Hashable {
    public var isolation: PGIsolationLevel?
    public var readOnly: Bool?
    public var deferrable: Bool?

    public init(isolation: PGIsolationLevel? = nil, readOnly: Bool? = nil, deferrable: Bool? = nil) {
        self.isolation = isolation
        self.readOnly = readOnly
        self.deferrable = deferrable
    }

    /// The BEGIN statement; built from the enum's fixed spellings only, never from caller text.
    public var beginStatement: String {
        var modes: [String] = []
        if let isolation { modes.append("ISOLATION LEVEL \(isolation.rawValue)") }
        if let readOnly { modes.append(readOnly ? "READ ONLY" : "READ WRITE") }
        if let deferrable { modes.append(deferrable ? "DEFERRABLE" : "NOT DEFERRABLE") }
        return modes.isEmpty ? "BEGIN" : "BEGIN " + modes.joined(separator: ", ")
    }
}
