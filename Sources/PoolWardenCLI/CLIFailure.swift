import ArgumentParser
import Foundation

/// Why a client subcommand failed, and the exit status scripts see for it: 2 when the service
/// answered no, 3 when no usable answer came back, 4 when a COMMIT came back as ROLLBACK.
enum CLIFailure: Error {
    /// The server answered a COMMIT with ROLLBACK: the transaction had failed, nothing of it was
    /// committed. A script under `set -e` must not go on as if it had.
    case rolledBack
    /// The service answered with an error status; `answer` holds its body (normally a problem).
    case refused(ResponseRecorder.Answer, keyGiven: Bool)
    /// No answer arrived: connection refused, timeout, name resolution, a dropped connection.
    case unreachable(URL, reason: String)
    /// An answer arrived that this client cannot use (a success it cannot decode).
    case unusable(URL, reason: String)
    /// A CA, client certificate or key file given to the client cannot be used.
    case unusableTLSFile(String, reason: String)

    var exitCode: ExitCode {
        switch self {
        case .refused: ExitCode(2)
        case .unreachable, .unusable, .unusableTLSFile: ExitCode(3)
        case .rolledBack: ExitCode(4)
        }
    }

    /// The body to print under `--json`: the problem as the service sent it.
    var body: Data? {
        if case .refused(let answer, _) = self, !answer.body.isEmpty { return answer.body }
        return nil
    }

    /// The lines for stderr, each prefixed `poolwarden: `: the problem's code and detail first,
    /// then PostgreSQL's fields when the service passed them on.
    var message: String {
        switch self {
        case .rolledBack:
            return "poolwarden: COMMIT answered ROLLBACK: the transaction had failed and nothing of it was committed"
        case .unreachable(let url, let reason):
            return "poolwarden: cannot reach PoolWarden at \(url.absoluteString): \(reason)"
        case .unusable(let url, let reason):
            return "poolwarden: unusable answer from PoolWarden at \(url.absoluteString): \(reason)"
        case .unusableTLSFile(let path, let reason):
            return "poolwarden: \(path): \(reason)"
        case .refused(let answer, let keyGiven):
            guard let problem = try? JSONDecoder().decode(Components.Schemas.Problem.self, from: answer.body) else {
                let text = String(decoding: answer.body.prefix(300), as: UTF8.self)
                    .split(whereSeparator: \.isNewline).joined(separator: " ")
                return "poolwarden: HTTP \(answer.status)" + (text.isEmpty ? "" : ": \(text)")
            }
            let problems = problem.problems ?? []
            if !problems.isEmpty {
                // One line per problem, as --check-config prints them, rather than the detail's one.
                let count = "\(problems.count) problem\(problems.count == 1 ? "" : "s")"
                return (["poolwarden: \(problem.code.rawValue): the config file has \(count) and nothing was changed"]
                    + problems.map { "poolwarden:   \(Self.line($0))" }).joined(separator: "\n")
            }
            var first = "poolwarden: \(problem.code.rawValue): \(problem.detail)"
            if let sqlstate = problem.sqlstate { first += " (SQLSTATE \(sqlstate))" }
            if let index = problem.statementIndex { first += " (statement \(index + 1))" }
            if problem.code == .unauthorized && !keyGiven { first += " (set POOLWARDEN_KEY or pass --api-key)" }
            if let retryAfter = answer.retryAfter { first += " (retry after \(retryAfter) s)" }
            var lines = [first]
            if let detail = problem.pgDetail { lines.append("poolwarden: DETAIL: \(detail)") }
            if let hint = problem.hint { lines.append("poolwarden: HINT: \(hint)") }
            if let position = problem.position { lines.append("poolwarden: at character \(position)") }
            return lines.joined(separator: "\n")
        }
    }

    private static func line(_ problem: Components.Schemas.ConfigProblem) -> String {
        var text = problem.field.isEmpty ? problem.message : "\(problem.field): \(problem.message)"
        if let line = problem.line { text += problem.column.map { " (line \(line), column \($0))" } ?? " (line \(line))" }
        return text
    }
}
