/// `cluster:`: this service is one of several replicas behind one address. Every pool's `max` and
/// every `servers:` budget then hold across the replicas together (slots held as advisory locks
/// in PostgreSQL), tokens name the replica that owns their lease, and any replica answers any
/// request by forwarding it to that owner. Without it, nothing of the cluster runs.
public struct ClusterSettings: Sendable, Equatable {
    /// Where a replica is reached by its peers.
    public struct Peer: Sendable, Equatable {
        public var name: String
        /// `http://host:port` or `https://host:port`, with no path.
        public var url: String

        public init(name: String, url: String) {
            self.name = name
            self.url = url
        }
    }

    /// `peers_dns`: the peers are the pods of a StatefulSet behind a headless Service, named
    /// `<statefulset>-<ordinal>` and reached at `<pod>.<service>:<port>`.
    public struct PeersDNS: Sendable, Equatable {
        public var service: String
        public var replicas: Int
        public var port: Int
        public var scheme: String
        /// nil: this replica's name without its `-<ordinal>`.
        public var statefulSet: String?

        public init(service: String, replicas: Int, port: Int, scheme: String = "http", statefulSet: String? = nil) {
            self.service = service
            self.replicas = replicas
            self.port = port
            self.scheme = scheme
            self.statefulSet = statefulSet
        }
    }

    /// This replica's name: unique in the cluster, the name inside the tokens it gives out.
    public var replica: String
    /// Every replica, this one included, in name order. With `peers_dns`, derived from it.
    public var peers: [Peer]
    public var peersDNS: PeersDNS?
    /// The database on each server where the slots' advisory locks are taken.
    public var coordinationDatabase: String
    /// The environment variable holding the key replicas present to one another.
    public var keyVariable: String
    /// The key itself (never written, logged or shown).
    public var key: String
    /// How long a forwarded request may wait for the owner to accept the connection; past it the
    /// owner is taken to be gone.
    public var peerConnectTimeout: Duration

    public static let defaultCoordinationDatabase = "postgres"
    public static let defaultPeerConnectTimeout: Duration = .seconds(2)
    /// A cluster key shorter than this is refused: it is the only secret between replicas.
    public static let minimumKeyLength = 32

    public init(
        replica: String,
        peers: [Peer],
        peersDNS: PeersDNS? = nil,
        coordinationDatabase: String = ClusterSettings.defaultCoordinationDatabase,
        keyVariable: String,
        key: String,
        peerConnectTimeout: Duration = ClusterSettings.defaultPeerConnectTimeout
    ) {
        self.replica = replica
        self.peers = peers
        self.peersDNS = peersDNS
        self.coordinationDatabase = coordinationDatabase
        self.keyVariable = keyVariable
        self.key = key
        self.peerConnectTimeout = peerConnectTimeout
    }

    /// The URL of replica `name`, nil when it is not a peer.
    public func url(of name: String) -> String? {
        peers.first { $0.name == name }?.url
    }

    /// Every replica but this one.
    public var others: [Peer] {
        peers.filter { $0.name != replica }
    }

    /// Whether `name` may name a replica: a DNS label (a StatefulSet's pod names are), which also
    /// keeps it safe inside a token.
    public static func isValidReplicaName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...63).contains(bytes.count), bytes.first != 0x2D, bytes.last != 0x2D else { return false }
        return bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
    }

    /// The peers a `peers_dns` stands for, seen from replica `replica`; nil when `replica` is not
    /// of the form `<name>-<ordinal>` and no StatefulSet name is given.
    public static func peers(_ dns: PeersDNS, replica: String) -> [Peer]? {
        let base: String
        if let set = dns.statefulSet {
            base = set
        } else if let dash = replica.lastIndex(of: "-"), Int(replica[replica.index(after: dash)...]) != nil {
            base = String(replica[..<dash])
        } else {
            return nil
        }
        return (0..<dns.replicas).map { ordinal in
            let name = "\(base)-\(ordinal)"
            return Peer(name: name, url: "\(dns.scheme)://\(name).\(dns.service):\(dns.port)")
        }
    }
}
