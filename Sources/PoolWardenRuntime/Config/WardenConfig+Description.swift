extension WardenConfig: CustomStringConvertible {
    /// A summary fit for a startup log: no password, no key digest, conninfo redacted. Without it,
    /// string interpolation would print every pool's resolved password.
    public var description: String {
        let pools = pools.map { "\($0.name) (\($0.redactedConninfo), min \($0.min), max \($0.max))" }
        let servers = servers.map { "\($0.host):\($0.port) max \($0.maxConnections)" }
        return "listen \(listen); callers [\(callers.map(\.description).joined(separator: ", "))]; "
            + "pools [\(pools.joined(separator: ", "))]; servers [\(servers.joined(separator: ", "))]; "
            + "shutdown_grace \(ConfigDuration.format(shutdownGrace)); max_body_bytes \(maxBodyBytes); log_level \(logLevel)"
    }
}
