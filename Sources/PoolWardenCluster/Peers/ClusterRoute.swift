import PoolWardenRuntime

/// Where a request is answered in a cluster, decided from its method and path alone (before
/// authentication: the owner authenticates the original caller itself).
public enum ClusterRoute: Sendable, Equatable {
    /// By this replica, as a single service would.
    case local
    /// A `/v1/leases/{token}` request whose token names another replica: sent to it.
    case forward(ClusterSettings.Peer)
    /// A token naming a replica the peers list does not have (scaled away, or never was): its
    /// lease cannot be live anywhere, answered 410 `replica_lost`.
    case ownerUnknown(replica: String)
    /// `GET /v1/pools?scope=cluster` or `GET /v1/pools/{pool}/leases?scope=cluster`: every
    /// replica's answer merged.
    case view(ClusterView.Kind)
    /// An operator's change to a pool: applied here, then at every other replica.
    case broadcast
    /// `DELETE /v1/pools/{pool}/leases/{prefix}`: answered by the replica that holds the lease,
    /// found among all of them.
    case revoke
}

extension ClusterSettings {
    /// The route of a request with `method` (upper case), `path` (no query) and `query`.
    public func route(method: String, path: String, query: String?) -> ClusterRoute {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        guard segments.count >= 2, segments[0] == "v1" else { return .local }
        switch (method, segments.count, segments[1]) {
        case (_, 3...4, "leases"):
            guard segments.count == 3 || ["renew", "query", "batch"].contains(segments[3]) else { return .local }
            return leaseRoute(token: segments[2])
        case ("GET", 2, "pools"):
            return Self.asksForCluster(query) ? .view(.pools) : .local
        case ("GET", 4, "pools") where segments[3] == "leases":
            return Self.asksForCluster(query) ? .view(.leases) : .local
        case ("POST", 2, "pools"):
            return .broadcast
        case ("PATCH", 3, "pools"), ("DELETE", 3, "pools"):
            return .broadcast
        case ("POST", 4, "pools") where ["pause", "resume", "recycle"].contains(segments[3]):
            return .broadcast
        case ("DELETE", 5, "pools") where segments[3] == "leases":
            return .revoke
        default:
            return .local
        }
    }

    private func leaseRoute(token: String) -> ClusterRoute {
        // A malformed token, or one of a single service, is the local handler's to refuse.
        guard LeaseToken.isWellFormed(token), let owner = LeaseToken.owner(of: token), owner != replica else { return .local }
        guard let peer = peers.first(where: { $0.name == owner }) else { return .ownerUnknown(replica: owner) }
        return .forward(peer)
    }

    /// `scope=cluster` among the query's items; any other scope is the handler's to read.
    private static func asksForCluster(_ query: String?) -> Bool {
        guard let query else { return false }
        return query.split(separator: "&").contains { $0 == "scope=cluster" }
    }

    /// What each replica is asked for a view: the request's path and query without its scope,
    /// so that every replica answers its local part (the pool list's fast path included).
    public static func localTarget(path: String, query: String?) -> String {
        let rest = (query ?? "").split(separator: "&").filter { !$0.hasPrefix("scope=") }
        return rest.isEmpty ? path : path + "?" + rest.joined(separator: "&")
    }
}
