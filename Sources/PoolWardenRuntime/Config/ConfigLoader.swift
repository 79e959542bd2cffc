import Foundation
import Yams

/// Reads a config file (the YAML of DESIGN.md) into a checked ``WardenConfig``, resolving secrets
/// from the environment, or throws a ``ConfigError`` with every problem found.
///
/// The environment is a parameter so that tests, and `--check-config` on another machine, control
/// which variables exist.
public struct ConfigLoader: Sendable {
    public var environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// Loads the file at `path`. `host` and `port` (the command line's `--host`, `--port`) replace
    /// the file's listen address before it is checked, so the loopback rule applies to the address
    /// actually used.
    public func load(file path: String, host: String? = nil, port: Int? = nil) throws(ConfigError) -> WardenConfig {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ConfigError(path: "", message: "\(path): no such file")
        }
        guard !isDirectory.boolValue else {
            throw ConfigError(path: "", message: "\(path): is a directory, not a config file")
        }
        guard FileManager.default.isReadableFile(atPath: path), let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(path: "", message: "\(path): cannot be read (permission denied?)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(path: "", message: "\(path): is not UTF-8 text")
        }
        return try load(yaml: text, host: host, port: port, baseDirectory: (path as NSString).deletingLastPathComponent)
    }

    /// Loads a config from its YAML text; see ``load(file:host:port:)``. Relative file paths in
    /// it (`listen.tls`) are taken from `baseDirectory`, else from the current folder.
    public func load(yaml: String, host: String? = nil, port: Int? = nil, baseDirectory: String? = nil) throws(ConfigError) -> WardenConfig {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw ConfigError(problems: [Self.problem(for: error, in: yaml)])
        } catch {
            throw ConfigError(path: "", message: "not valid YAML: \(error)")
        }
        var decoder = ConfigDecoder(environment: environment)
        decoder.baseDirectory = baseDirectory.flatMap { $0.isEmpty ? nil : $0 }
        let config = decoder.decode(root, host: host, port: port)
        guard decoder.log.isEmpty else {
            let ordered = decoder.log.problems.enumerated().sorted { left, right in
                (left.element.line ?? Int.max, left.offset) < (right.element.line ?? Int.max, right.offset)
            }
            throw ConfigError(problems: ordered.map(\.element))
        }
        return config
    }

    /// A syntax problem with its line and column. Yams' own description is not used: it quotes the
    /// offending line, which may hold a password in a conninfo.
    private static func problem(for error: YamlError, in yaml: String) -> ConfigProblem {
        switch error {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            if problem == "but found another document" {
                return ConfigProblem(path: "", message: "not valid YAML here: the file holds more than one document (---)",
                                     line: mark.line, column: mark.column)
            }
            let detail = context.map { " (\($0.text) at line \($0.mark.line), column \($0.mark.column))" } ?? ""
            return ConfigProblem(path: "", message: "not valid YAML: \(problem)\(detail)", line: mark.line, column: mark.column)
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.sorted().joined(separator: ", ")
            return ConfigProblem(path: "", message: "duplicate key \(keys) in one mapping; each key may appear once",
                                 line: context.mark.line, column: context.mark.column)
        case .reader(let problem, let offset, _, _):
            let position = offset.map { lineAndColumn(ofCharacterOffset: $0, in: yaml) }
            return ConfigProblem(path: "", message: "not valid YAML: \(problem)", line: position?.line, column: position?.column)
        default:
            return ConfigProblem(path: "", message: "not valid YAML: \(error)")
        }
    }

    private static func lineAndColumn(ofCharacterOffset offset: Int, in text: String) -> (line: Int, column: Int) {
        var line = 1
        var column = 1
        for character in text.prefix(offset) {
            if character == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return (line, column)
    }
}
