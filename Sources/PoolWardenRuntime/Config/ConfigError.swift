/// A config that cannot be used, with every problem found in it, so that one run of
/// `--check-config` shows them all.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// In file order as far as it is known, never empty.
    public var problems: [ConfigProblem]

    public init(problems: [ConfigProblem]) {
        self.problems = problems
    }

    public init(path: String, message: String) {
        self.problems = [ConfigProblem(path: path, message: message)]
    }

    /// How many problems ``description`` lists before summing up the rest: a wrong file can
    /// produce thousands.
    public static let listedProblems = 100

    /// One problem per line.
    public var description: String {
        var lines = problems.prefix(Self.listedProblems).map(\.description)
        if problems.count > Self.listedProblems {
            lines.append("... and \(problems.count - Self.listedProblems) more problems")
        }
        return lines.joined(separator: "\n")
    }
}
