/// One caller from the config file: its identity and the digest of its bearer key. The key itself
/// is hashed as soon as it is read and never kept.
public struct CallerConfig: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var role: CallerIdentity.Role
    /// nil: every pool. Only clients are restricted.
    public var pools: Set<String>?
    public var keyDigest: KeyDigest
    /// The environment variable the key was read from; nil when the file gave `key_sha256`.
    public var keyEnv: String?

    public init(name: String, role: CallerIdentity.Role, pools: Set<String>? = nil, keyDigest: KeyDigest, keyEnv: String? = nil) {
        self.name = name
        self.role = role
        self.pools = pools
        self.keyDigest = keyDigest
        self.keyEnv = keyEnv
    }

    public var identity: CallerIdentity {
        CallerIdentity(name: name, role: role, pools: role == .admin ? nil : pools)
    }

    /// Name, role and pools; the key digest is left out, as a digest of a weak key can be guessed
    /// offline.
    public var description: String {
        let grants = pools.map { " pools: [\($0.sorted().joined(separator: ", "))]" } ?? ""
        return "\(name) (\(role.rawValue))\(grants)"
    }
}
