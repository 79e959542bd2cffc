import Foundation
import Yams

extension ConfigDecoder {
    static let clusterKeys = ["replica", "peers", "peers_dns", "coordination_database", "key_env", "peer_connect_timeout"]
    static let clusterAliases = [
        "name": "replica", "self": "replica", "node": "replica", "replicas": "peers", "members": "peers", "nodes": "peers",
        "dns": "peers_dns", "peersdns": "peers_dns", "database": "coordination_database", "coordinationdb": "coordination_database",
        "key": "key_env", "secret": "key_env", "clusterkey": "key_env", "connecttimeout": "peer_connect_timeout",
    ]
    static let peersDNSKeys = ["service", "replicas", "port", "scheme", "statefulset"]
    static let peerConnectTimeoutRange: ClosedRange<Duration> = .milliseconds(100) ... .seconds(60)

    /// `cluster:`. `replica` defaults to the host name (a StatefulSet's pod name); `peers` or
    /// `peers_dns` must list this replica too, so that every replica reads the same list.
    func decodeCluster(_ top: MappingReader, hostName: String) -> FieldValue<ClusterSettings> {
        guard let node = top.value("cluster") else { return .absent }
        guard let reader = MappingReader(node, path: "cluster", keys: Self.clusterKeys, aliases: Self.clusterAliases, log: log) else {
            return .invalid
        }
        var valid = true
        var replica = hostName
        if case .value(let written) = reader.string("replica") {
            replica = String(ConfigText.trimmed(written))
        } else if reader.contains("replica") {
            valid = false
        }
        if !ClusterSettings.isValidReplicaName(replica) {
            let source = reader.contains("replica") ? "" : " (the host name, as replica is not set)"
            log.add(reader.field("replica"), "\"\(replica)\"\(source) is no replica name: 1 to 63 of a-z, 0-9 and -, not starting or ending with -", at: reader.value("replica") ?? node)
            valid = false
        }
        var peersDNS: ClusterSettings.PeersDNS?
        var peers: [ClusterSettings.Peer] = []
        switch (reader.contains("peers"), reader.contains("peers_dns")) {
        case (true, true):
            log.add(reader.path, "give peers or peers_dns, not both", at: node)
            valid = false
        case (false, false):
            log.add(reader.path, "needs peers (every replica by name, with its URL, this one included) or peers_dns", at: node)
            valid = false
        case (true, false):
            if let listed = decodePeers(reader) { peers = listed } else { valid = false }
        case (false, true):
            if let dns = decodePeersDNS(reader) {
                peersDNS = dns
                if let derived = ClusterSettings.peers(dns, replica: replica) {
                    peers = derived
                } else {
                    log.add(reader.field("peers_dns"), "replica \"\(replica)\" is not <statefulset>-<ordinal>; set peers_dns.statefulset", at: reader.value("peers_dns"))
                    valid = false
                }
            } else {
                valid = false
            }
        }
        if valid, !peers.contains(where: { $0.name == replica }) {
            let names = peers.map(\.name).joined(separator: ", ")
            log.add(reader.field(peersDNS == nil ? "peers" : "peers_dns"), "does not list this replica, \"\(replica)\" (it lists \(names))", at: reader.value("peers") ?? reader.value("peers_dns"))
            valid = false
        }
        var database = ClusterSettings.defaultCoordinationDatabase
        if !reader.string("coordination_database").store(into: &database) { valid = false }
        var timeout = ClusterSettings.defaultPeerConnectTimeout
        if !reader.duration("peer_connect_timeout", in: Self.peerConnectTimeoutRange).store(into: &timeout) { valid = false }
        var keyVariable = ""
        var key = ""
        if !reader.contains("key_env") {
            log.add(reader.field("key_env"), "required: the environment variable holding the key replicas present to one another (the same on every replica, at least \(ClusterSettings.minimumKeyLength) characters)", at: node)
            valid = false
        } else if case .value(let variable) = reader.string("key_env"), case .value(let value) = secret(from: reader, key: "key_env") {
            keyVariable = variable
            key = value
            if value.utf8.count < ClusterSettings.minimumKeyLength {
                log.add(reader.field("key_env"), "environment variable \(variable) holds \(value.utf8.count) characters; a cluster key needs at least \(ClusterSettings.minimumKeyLength) (openssl rand -base64 32)", at: reader.value("key_env"))
                valid = false
            }
        } else {
            valid = false
        }
        guard valid else { return .invalid }
        return .value(ClusterSettings(
            replica: replica, peers: peers, peersDNS: peersDNS, coordinationDatabase: database,
            keyVariable: keyVariable, key: key, peerConnectTimeout: timeout
        ))
    }

    /// `peers: { name: url, ... }`, sorted by name.
    private func decodePeers(_ reader: MappingReader) -> [ClusterSettings.Peer]? {
        guard let node = reader.value("peers"), let mapping = node.mapping else {
            log.add(reader.field("peers"), "must be a mapping of replica names to URLs (poolwarden-0: http://10.0.0.5:8080)", at: reader.value("peers"))
            return nil
        }
        var peers: [ClusterSettings.Peer] = []
        var valid = true
        for (key, value) in mapping {
            guard let name = key.scalar?.string, ClusterSettings.isValidReplicaName(name) else {
                log.add(reader.field("peers"), "\"\(key.scalar?.string ?? "?")\" is no replica name: 1 to 63 of a-z, 0-9 and -", at: key)
                valid = false
                continue
            }
            let field = "\(reader.field("peers")).\(name)"
            guard let text = value.scalar?.string, let url = Self.peerURL(text) else {
                log.add(field, "must be a URL of the form http://host:port or https://host:port, with no path", at: value)
                valid = false
                continue
            }
            if peers.contains(where: { $0.name == name }) {
                log.add(field, "is listed twice", at: key)
                valid = false
                continue
            }
            peers.append(.init(name: name, url: url))
        }
        if peers.isEmpty, valid {
            log.add(reader.field("peers"), "lists no replica", at: node)
            valid = false
        }
        return valid ? peers.sorted { $0.name < $1.name } : nil
    }

    private func decodePeersDNS(_ reader: MappingReader) -> ClusterSettings.PeersDNS? {
        guard let node = reader.value("peers_dns"),
              let dns = MappingReader(node, path: reader.field("peers_dns"), keys: Self.peersDNSKeys, log: log)
        else { return nil }
        var result = ClusterSettings.PeersDNS(service: "", replicas: 0, port: 8080)
        var valid = dns.string("service", required: true).store(into: &result.service)
        valid = dns.integer("replicas", in: 1...64, required: true).store(into: &result.replicas) && valid
        valid = dns.integer("port", in: WardenConfig.validPorts).store(into: &result.port) && valid
        if case .value(let scheme) = dns.string("scheme") {
            let lowered = ConfigText.trimmed(scheme).lowercased()
            if lowered == "http" || lowered == "https" {
                result.scheme = lowered
            } else {
                log.add(dns.field("scheme"), "must be http or https, got \"\(scheme)\"", at: dns.value("scheme"))
                valid = false
            }
        } else if dns.contains("scheme") {
            valid = false
        }
        if case .value(let set) = dns.string("statefulset") {
            result.statefulSet = String(ConfigText.trimmed(set))
        } else if dns.contains("statefulset") {
            valid = false
        }
        if !dns.contains("service") || !dns.contains("replicas") { valid = false }
        return valid && !result.service.isEmpty ? result : nil
    }

    /// `scheme://host:port` with an optional trailing slash, normalised without it; nil for
    /// anything else.
    static func peerURL(_ text: String) -> String? {
        var written = String(ConfigText.trimmed(text))
        if written.hasSuffix("/") { written.removeLast() }
        guard let url = URL(string: written), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty, url.port != nil, url.path.isEmpty, url.query == nil, url.user == nil
        else { return nil }
        return written
    }
}
