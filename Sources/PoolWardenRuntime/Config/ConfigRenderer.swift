import Foundation
import PostgresLibPQ

/// Writes a configuration in the config file's format: what `GET /v1/config` answers, so that an
/// operator can save the running pools (runtime changes are lost at a restart). Secrets appear as
/// the names of their environment variables only; every value the loader reads is written, so
/// that loading the output with the same environment gives the same pools back.
public enum ConfigRenderer {
    /// `config` supplies what only the file sets (listen, callers, servers, limits of the
    /// process); `pools` are the pools as they run now, in the order given.
    public static func yaml(_ config: WardenConfig, pools: [PoolSettings]) -> String {
        var lines = [
            "# The running configuration of PoolWarden, as GET /v1/config answered it.",
            "# Secrets are named by their environment variables, never written here.",
            "listen: { host: \(quoted(config.listen.host)), port: \(config.listen.port), "
                + "request_timeout: \(ConfigDuration.format(config.requestTimeout)), max_connections: \(config.maxClientConnections)"
                + (config.tls.map { ", tls: \(tlsMapping($0))" } ?? "") + " }",
            "shutdown_grace: \(ConfigDuration.format(config.shutdownGrace))",
            "max_body_bytes: \(config.maxBodyBytes)",
            "log_level: \(config.logLevel.rawValue)",
        ]
        if let cluster = config.cluster { lines += clusterLines(cluster) }
        lines.append(config.callers.isEmpty ? "callers: []" : "callers:")
        for caller in config.callers {
            lines.append("  - name: \(quoted(caller.name))")
            lines.append("    role: \(caller.role.rawValue)")
            let variables = caller.keys.compactMap { key -> String? in
                if case .environment(let variable) = key.source { variable } else { nil }
            }
            let digests = caller.keys.filter { $0.source == .digest }.map(\.digest.hex)
            if !variables.isEmpty { lines.append("    key_env: \(oneOrList(variables))") }
            if !digests.isEmpty { lines.append("    key_sha256: \(oneOrList(digests))") }
            if let subject = caller.certificateSubject { lines.append("    cert_subject: \(quoted(subject.description))") }
            if caller.role == .client, let granted = caller.pools {
                lines.append("    pools: [\(granted.sorted().map(quoted).joined(separator: ", "))]")
            }
        }
        lines.append(config.servers.isEmpty ? "servers: []" : "servers:")
        for server in config.servers {
            lines.append("  - { host: \(quoted(server.host)), port: \(server.port), max_connections: \(server.maxConnections) }")
        }
        lines.append(pools.isEmpty ? "pools: []" : "pools:")
        for pool in pools { lines += poolLines(pool) }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func clusterLines(_ cluster: ClusterSettings) -> [String] {
        var lines = ["cluster:", "  replica: \(quoted(cluster.replica))"]
        if let dns = cluster.peersDNS {
            var fields = ["service: \(quoted(dns.service))", "replicas: \(dns.replicas)", "port: \(dns.port)", "scheme: \(dns.scheme)"]
            if let set = dns.statefulSet { fields.append("statefulset: \(quoted(set))") }
            lines.append("  peers_dns: { \(fields.joined(separator: ", ")) }")
        } else {
            lines.append("  peers:")
            lines += cluster.peers.map { "    \(quoted($0.name)): \(quoted($0.url))" }
        }
        lines.append("  coordination_database: \(quoted(cluster.coordinationDatabase))")
        lines.append("  key_env: \(cluster.keyVariable)")
        lines.append("  peer_connect_timeout: \(ConfigDuration.format(cluster.peerConnectTimeout))")
        return lines
    }

    private static func tlsMapping(_ tls: ListenTLS) -> String {
        var fields = ["cert_file: \(quoted(tls.certificateFile))", "key_file: \(quoted(tls.keyFile))"]
        if let file = tls.clientCAFile { fields.append("client_ca_file: \(quoted(file))") }
        return "{ \(fields.joined(separator: ", ")) }"
    }

    /// One value as itself, several as a flow list: the form the file gave, read back the same.
    private static func oneOrList(_ values: [String]) -> String {
        values.count == 1 ? values[0] : "[\(values.joined(separator: ", "))]"
    }

    private static func poolLines(_ pool: PoolSettings) -> [String] {
        var lines = ["  - name: \(quoted(pool.name))"]
        // A secret written into the conninfo is never repeated: masked, with a note.
        let conninfo = PGRedaction.redact(conninfo: pool.conninfo)
        if conninfo != pool.conninfo {
            lines.append("    # conninfo: a secret in it is masked (\(PGRedaction.mask)); put it in an environment variable named by password_env")
        }
        lines.append("    conninfo: \(quoted(conninfo))")
        if let variable = pool.passwordEnv {
            lines.append("    password_env: \(variable)")
        } else if pool.password != nil {
            lines.append("    # password_env: a password was set over the API; name the variable that holds it")
        }
        lines += [
            "    min: \(pool.min)",
            "    max: \(pool.max)",
        ]
        if let limit = pool.maxPerCaller { lines.append("    max_per_caller: \(limit)") }
        if let limit = pool.maxWaiting { lines.append("    max_waiting: \(limit)") }
        lines += [
            "    lease_ttl: \(ConfigDuration.format(pool.leaseTTL))",
            "    borrow_timeout: \(ConfigDuration.format(pool.borrowTimeout))",
            "    max_lifetime: \(optional(pool.maxLifetime))",
            "    idle_timeout: \(optional(pool.idleTimeout))",
            "    health_check_after: \(optional(pool.healthCheckAfter))",
            "    statement_timeout: \(optional(pool.statementTimeout))",
            "    max_statement_timeout: \(ConfigDuration.format(pool.maxStatementTimeout))",
            "    connect_retry: { attempts: \(pool.connectRetry.attempts), base_delay: \(ConfigDuration.format(pool.connectRetry.baseDelay)), "
                + "max_delay: \(ConfigDuration.format(pool.connectRetry.maxDelay)) }",
            "    application_name_tagging: \(pool.applicationNameTagging)",
            "    reset: \(pool.reset.rawValue)",
        ]
        if let statement = pool.resetStatement { lines.append("    reset_statement: \(quoted(statement))") }
        lines += [
            "    max_result_rows: \(pool.maxResultRows)",
            "    max_result_bytes: \(pool.maxResultBytes)",
            "    max_stream_rows: \(pool.maxStreamRows.map(String.init) ?? "off")",
            "    max_stream_bytes: \(pool.maxStreamBytes.map(String.init) ?? "off")",
            "    max_statements: \(pool.maxStatements)",
        ]
        return lines
    }

    private static func optional(_ duration: Duration?) -> String {
        duration.map(ConfigDuration.format) ?? "off"
    }

    /// A YAML double-quoted scalar: JSON's string syntax is a subset of it.
    private static func quoted(_ text: String) -> String {
        guard let data = try? JSONEncoder().encode(text), let json = String(data: data, encoding: .utf8) else { return "\"\"" }
        return json
    }
}
