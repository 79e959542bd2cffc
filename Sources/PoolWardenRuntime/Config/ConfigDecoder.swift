#if canImport(Glibc)
import Glibc
#endif
import Logging
import Yams

/// Turns the YAML tree of a config file into a ``WardenConfig``, logging every problem instead of
/// stopping at the first. The pieces are in `ConfigDecoder+Pools.swift`, `+Callers` and `+Servers`.
struct ConfigDecoder {
    static let topKeys = ["listen", "callers", "pools", "servers", "shutdown_grace", "max_body_bytes", "log_level", "cluster"]
    static let topAliases = [
        "listener": "listen", "bind": "listen", "address": "listen", "server": "servers",
        "pool": "pools", "caller": "callers", "clients": "callers", "users": "callers",
        "grace": "shutdown_grace", "shutdowntimeout": "shutdown_grace", "gracefulshutdown": "shutdown_grace",
        "maxbodysize": "max_body_bytes", "bodylimit": "max_body_bytes", "loglevel": "log_level", "logging": "log_level",
    ]
    static let listenKeys = ["host", "port", "request_timeout", "max_connections", "tls"]
    static let requestTimeoutRange: ClosedRange<Duration> = .milliseconds(100) ... .seconds(3600)
    static let maxClientConnectionsRange = 1...1_000_000
    static let shutdownGraceRange: ClosedRange<Duration> = .zero ... .seconds(3600)
    static let maxBodyBytesRange = 1...(1 << 30)

    let environment: [String: String]
    /// The config file's folder, against which relative file paths are read; nil: the current one.
    var baseDirectory: String?
    let log = ProblemLog()

    /// The config with every readable value set; meaningful only when `log` stays empty. The
    /// command line's `host` and `port` replace the file's before the listen address is checked.
    func decode(_ root: Node?, host: String?, port: Int?) -> WardenConfig {
        var config = WardenConfig()
        var declaresCallers = false
        if let root {
            let keys = Self.topKeys
            if let top = MappingReader(root, path: "", keys: keys, aliases: Self.topAliases, log: log) {
                declaresCallers = decodeSections(top, into: &config)
            }
        }
        let address = ListenAddress(host: host ?? config.listen.host, port: port ?? config.listen.port)
        let problems = config.listenProblems(
            address,
            hostField: host == nil ? "listen.host" : "--host",
            portField: port == nil ? "listen.port" : "--port",
            requiresLoopback: !declaresCallers
        )
        let listenNode = root?.mapping?["listen"]
        for problem in problems {
            let isFromFile = problem.path.hasPrefix("listen.")
            let node = isFromFile ? listenNode?.mapping?[String(problem.path.dropFirst("listen.".count))] ?? listenNode : nil
            log.add(problem.path, problem.message, at: node)
        }
        config.listen = address
        return config
    }

    /// Returns whether the file lists any callers, valid or not, so that a caller with a typo does
    /// not turn the loopback rule on.
    private func decodeSections(_ top: MappingReader, into config: inout WardenConfig) -> Bool {
        if let node = top.value("listen"), let listen = MappingReader(node, path: "listen", keys: Self.listenKeys, log: log) {
            listen.string("host").store(into: &config.listen.host)
            listen.integer("port", in: WardenConfig.validPorts).store(into: &config.listen.port)
            listen.duration("request_timeout", in: Self.requestTimeoutRange).store(into: &config.requestTimeout)
            listen.integer("max_connections", in: Self.maxClientConnectionsRange).store(into: &config.maxClientConnections)
            config.tls = decodeTLS(listen).value
        }
        // nil when the pools section is broken: the callers' grants cannot be checked then, and
        // reporting each of them would only bury the real problem.
        var poolNames: Set<String>?
        switch top.sequence("pools", of: "pools") {
        case .value(let nodes):
            config.pools = decodePools(nodes)
            poolNames = Set(config.pools.map(\.name))
        case .absent:
            poolNames = []
        case .invalid:
            poolNames = nil
        }
        var declaresCallers = false
        if case .value(let nodes) = top.sequence("callers", of: "callers") {
            declaresCallers = !nodes.isEmpty
            config.callers = decodeCallers(nodes, poolNames: poolNames, clientCertificates: config.tls?.requiresClientCertificates ?? false)
        } else if top.contains("callers") {
            declaresCallers = true
        }
        if case .value(let nodes) = top.sequence("servers", of: "servers") {
            config.servers = decodeServers(nodes)
        }
        config.cluster = decodeCluster(top, hostName: Self.hostName()).value
        top.duration("shutdown_grace", in: Self.shutdownGraceRange).store(into: &config.shutdownGrace)
        top.byteSize("max_body_bytes", in: Self.maxBodyBytesRange).store(into: &config.maxBodyBytes)
        decodeLogLevel(top).store(into: &config.logLevel)
        return declaresCallers
    }

    /// This machine's name up to its first dot, lowercased: a StatefulSet pod's name.
    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return String(name.split(separator: ".").first ?? "").lowercased()
    }

    private func decodeLogLevel(_ top: MappingReader) -> FieldValue<Logger.Level> {
        guard case .value(let text) = top.string("log_level") else { return .absent }
        let levels = Logger.Level.allCases.map(\.rawValue)
        if let level = Logger.Level(rawValue: ConfigText.trimmed(text).lowercased()) { return .value(level) }
        let hint = NameSuggester.suggestion(for: text, among: levels, aliases: ["warn": "warning", "fatal": "critical"])
            .map { "; did you mean \($0)?" } ?? ""
        log.add(top.field("log_level"), "must be one of \(levels.joined(separator: ", ")), got \"\(text)\"\(hint)", at: top.value("log_level"))
        return .invalid
    }

    /// The value of the environment variable named by `key` (`password_env`, `key_env`): it must
    /// exist and be non-empty. The variable's name is shown in problems, its value never.
    func secret(from reader: MappingReader, key: String) -> FieldValue<String> {
        guard case .value(let variable) = reader.string(key) else { return reader.contains(key) ? .invalid : .absent }
        return secret(named: variable, field: reader.field(key), at: reader.value(key))
    }

    /// The value of the environment variable `variable`, which `field` names.
    func secret(named variable: String, field: String, at node: Node?) -> FieldValue<String> {
        guard ConfigText.isEnvironmentName(variable) else {
            // Not echoed: a secret pasted here by mistake must not reach a log.
            log.add(field, "must be the name of an environment variable (letters, digits and _), not the secret itself", at: node)
            return .invalid
        }
        guard let value = environment[variable] else {
            log.add(field, "environment variable \(variable) is not set", at: node)
            return .invalid
        }
        guard !value.isEmpty else {
            log.add(field, "environment variable \(variable) is empty", at: node)
            return .invalid
        }
        return .value(value)
    }
}
