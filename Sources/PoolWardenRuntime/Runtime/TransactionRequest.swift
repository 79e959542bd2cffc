import PostgresLibPQ

/// A transaction to run in one call: its statements, how it begins, and its bounds.
public struct TransactionRequest: Sendable {
    /// Run in order between BEGIN and COMMIT; their `limits` are ignored (the pool's apply).
    public var statements: [PGStatement]
    public var mode: PGTransactionMode
    /// Bounds the whole transaction, retries included; capped as a statement's timeout is.
    public var timeout: Duration?
    /// How long to wait for a connection; the pool's `borrow_timeout` when nil.
    public var wait: Duration?
    /// Whether a serialization failure (40001) or deadlock (40P01) runs the transaction again, up
    /// to `PoolRegistry.serializationRetries` more times.
    public var retryOnSerializationFailure: Bool

    public init(
        statements: [PGStatement],
        mode: PGTransactionMode = PGTransactionMode(),
        timeout: Duration? = nil,
        wait: Duration? = nil,
        retryOnSerializationFailure: Bool = false
    ) {
        self.statements = statements
        self.mode = mode
        self.timeout = timeout
        self.wait = wait
        self.retryOnSerializationFailure = retryOnSerializationFailure
    }
}

extension TransactionRequest {
    /// The transaction-control command `sql` starts with (`COMMIT`, `ROLLBACK`, `BEGIN`, `START
    /// TRANSACTION`, `END`, `ABORT`, `PREPARE TRANSACTION`), after any spaces and comments; nil
    /// for anything else, `ROLLBACK TO SAVEPOINT` included. Inside a transaction sent in one
    /// round trip such a statement would commit (or end) part of it, and the statements after it
    /// would run on their own: the all-or-nothing answer would be false.
    public static func transactionControl(_ sql: String) -> String? {
        let words = leadingWords(sql, count: 2)
        guard let first = words.first else { return nil }
        switch first {
        case "BEGIN", "COMMIT", "END", "ABORT":
            return first
        case "START" where words.dropFirst().first == "TRANSACTION":
            return "START TRANSACTION"
        case "ROLLBACK" where words.dropFirst().first != "TO":
            return "ROLLBACK"
        case "PREPARE" where words.dropFirst().first == "TRANSACTION":
            return "PREPARE TRANSACTION"
        default:
            return nil
        }
    }

    /// The first `count` words of `sql`, upper-cased, skipping spaces, `--` line comments and
    /// (nested) `/* */` comments as PostgreSQL does.
    private static func leadingWords(_ sql: String, count: Int) -> [String] {
        let bytes = Array(sql.utf8)
        var index = 0
        var words: [String] = []
        while index < bytes.count, words.count < count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "-"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "-") {
                while index < bytes.count, bytes[index] != UInt8(ascii: "\n") { index += 1 }
            } else if byte == UInt8(ascii: "/"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "*") {
                var depth = 0
                repeat {
                    if index + 1 < bytes.count, bytes[index] == UInt8(ascii: "/"), bytes[index + 1] == UInt8(ascii: "*") {
                        depth += 1
                        index += 2
                    } else if index + 1 < bytes.count, bytes[index] == UInt8(ascii: "*"), bytes[index + 1] == UInt8(ascii: "/") {
                        depth -= 1
                        index += 2
                    } else {
                        index += 1
                    }
                } while depth > 0 && index < bytes.count
            } else if (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte | 0x20) {
                let start = index
                while index < bytes.count, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(bytes[index] | 0x20) || bytes[index] == UInt8(ascii: "_") {
                    index += 1
                }
                words.append(String(decoding: bytes[start..<index], as: UTF8.self).uppercased())
            } else if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                index += 1
            } else {
                break
            }
        }
        return words
    }
}
