@testable import PoolWardenHTTP
@testable import PoolWardenRuntime

/// Helpers shared by the `Config*Tests` suites.
enum ConfigTests {
    /// The problems `yaml` is refused for (empty when it loads).
    static func problems(
        _ yaml: String,
        environment: [String: String] = [:],
        host: String? = nil,
        port: Int? = nil
    ) -> [ConfigProblem] {
        do throws(ConfigError) {
            _ = try ConfigLoader(environment: environment).load(yaml: yaml, host: host, port: port)
            return []
        } catch {
            return error.problems
        }
    }

    /// The problems as `path: message`, without positions.
    static func messages(
        _ yaml: String,
        environment: [String: String] = [:],
        host: String? = nil,
        port: Int? = nil
    ) -> [String] {
        problems(yaml, environment: environment, host: host, port: port).map { problem in
            ConfigProblem(path: problem.path, message: problem.message).description
        }
    }
}
