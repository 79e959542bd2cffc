extension WardenConfig {
    public static let validPorts = 1...65535

    /// The address to listen on once the command line's `--host` and `--port` have replaced the
    /// file's, checked: the port is in range, and with no callers configured the host is loopback.
    /// Problems name the flag when the value came from one.
    public func resolvedListen(host: String? = nil, port: Int? = nil) throws(ConfigError) -> ListenAddress {
        let address = ListenAddress(host: host ?? listen.host, port: port ?? listen.port)
        let problems = listenProblems(
            address,
            hostField: host == nil ? "listen.host" : "--host",
            portField: port == nil ? "listen.port" : "--port",
            requiresLoopback: requiresLoopback
        )
        guard problems.isEmpty else { throw ConfigError(problems: problems) }
        return address
    }

    /// The same checks as ``resolvedListen(host:port:)``, with the config's own address.
    public func validateListen() throws(ConfigError) {
        _ = try resolvedListen()
    }

    func listenProblems(
        _ address: ListenAddress,
        hostField: String,
        portField: String,
        requiresLoopback: Bool
    ) -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        if ConfigText.trimmed(address.host).isEmpty {
            problems.append(ConfigProblem(path: hostField, message: "must not be empty"))
        } else if requiresLoopback, !address.isLoopback {
            problems.append(ConfigProblem(
                path: hostField,
                message: "\(address.host) is not a loopback address; with no callers configured there is no "
                    + "authentication, so the service listens on loopback only (127.0.0.1, ::1 or localhost). "
                    + "Configure callers with keys to listen on \(address.host)"
            ))
        }
        if !Self.validPorts.contains(address.port) {
            problems.append(ConfigProblem(path: portField, message: "must be between 1 and 65535, got \(address.port)"))
        }
        return problems
    }
}
