import Yams

/// Collects problems while a config is decoded, so that decoding carries on past the first one.
final class ProblemLog {
    private(set) var problems: [ConfigProblem] = []

    var isEmpty: Bool { problems.isEmpty }

    func add(_ path: String, _ message: String, at node: Node?) {
        problems.append(ConfigProblem(path: path, message: message, line: node?.mark?.line, column: node?.mark?.column))
    }

    func add(_ problem: ConfigProblem) {
        problems.append(problem)
    }
}
