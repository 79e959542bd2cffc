import Yams

extension ConfigDecoder {
    static let serverKeys = ["host", "port", "max_connections"]
    static let serverAliases = [
        "hostname": "host", "address": "host", "maxconn": "max_connections", "connections": "max_connections",
        "limit": "max_connections", "maxclientconn": "max_connections", "budget": "max_connections",
    ]
    static let maxConnectionsRange = 1...1_000_000

    func decodeServers(_ nodes: [Node]) -> [ServerBudgetSettings] {
        var servers: [ServerBudgetSettings] = []
        var firstIndex: [String: Int] = [:]
        for (index, node) in nodes.enumerated() {
            let path = "servers[\(index)]"
            guard let reader = MappingReader(node, path: path, keys: Self.serverKeys, aliases: Self.serverAliases, log: log) else {
                continue
            }
            let host = reader.string("host", required: true).value.map { String(ConfigText.trimmed($0)) }
            var port = 5432
            let portOK = reader.integer("port", in: WardenConfig.validPorts).store(into: &port)
            let limit = reader.integer("max_connections", in: Self.maxConnectionsRange, required: true).value
            guard let host, portOK else { continue }
            let endpoint = "\(host.lowercased()):\(port)"
            if let first = firstIndex[endpoint] {
                log.add(path, "duplicate server \(host):\(port) (also servers[\(first)]); one budget per server", at: node)
                continue
            }
            firstIndex[endpoint] = index
            if let limit { servers.append(ServerBudgetSettings(host: host, port: port, maxConnections: limit)) }
        }
        return servers
    }
}
