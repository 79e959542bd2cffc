/// Who is calling, once the bearer key has been checked.
public struct CallerIdentity: Sendable, Hashable {
    public enum Role: String, Sendable, Hashable {
        case admin
        case client
    }

    public var name: String
    public var role: Role
    /// nil: every pool. Admins are never restricted.
    public var pools: Set<String>?

    public init(name: String, role: Role, pools: Set<String>? = nil) {
        self.name = name
        self.role = role
        self.pools = pools
    }

    public var isAdmin: Bool { role == .admin }

    /// Whether this caller may borrow from and see `pool`.
    public func mayUse(pool: String) -> Bool {
        isAdmin || pools.map { $0.contains(pool) } ?? true
    }

    /// The caller used when no callers are configured (loopback only): an admin.
    public static let anonymousAdmin = CallerIdentity(name: "local", role: .admin)
}
