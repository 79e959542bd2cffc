/// One thing wrong with a config file: the field it concerns, what is wrong, and where.
public struct ConfigProblem: Sendable, Equatable, CustomStringConvertible {
    /// The field, e.g. `pools[1].max_per_caller`, or a command-line flag such as `--host`; empty when
    /// the problem concerns the file as a whole (unreadable, not YAML).
    public var path: String
    /// What is wrong, phrased to be read after the path. Never carries a secret.
    public var message: String
    /// 1-based position in the file, when the problem points at a node of it.
    public var line: Int?
    public var column: Int?

    public init(path: String, message: String, line: Int? = nil, column: Int? = nil) {
        self.path = path
        self.message = message
        self.line = line
        self.column = column
    }

    public var description: String {
        var text = path.isEmpty ? message : "\(path): \(message)"
        if let line {
            text += column.map { " (line \(line), column \($0))" } ?? " (line \(line))"
        }
        return text
    }
}
