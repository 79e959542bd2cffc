/// Where a reload reads the configuration again: the file the service was started from, with the
/// command line's `--host`/`--port`, which keep replacing the file's listen address.
public struct ConfigSource: Sendable {
    public var path: String
    public var host: String?
    public var port: Int?
    /// The variables `key_env` and `password_env` name; nil: the process's environment.
    public var environment: [String: String]?

    public init(path: String, host: String? = nil, port: Int? = nil, environment: [String: String]? = nil) {
        self.path = path
        self.host = host
        self.port = port
        self.environment = environment
    }

    /// Reads and checks the file as `serve --config` and `--check-config` do.
    public func load() throws(ConfigError) -> WardenConfig {
        let loader = environment.map { ConfigLoader(environment: $0) } ?? ConfigLoader()
        return try loader.load(file: path, host: host, port: port)
    }
}
