/// One caller from the config file: its identity and the digests of its bearer keys. A key itself
/// is hashed as soon as it is read and never kept.
public struct CallerConfig: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var role: CallerIdentity.Role
    /// nil: every pool. Only clients are restricted.
    public var pools: Set<String>?
    /// Every key that identifies the caller, in the file's order: `key_env`'s, then `key_sha256`'s.
    /// More than one while a new key is rolled out and the old one still in use.
    public var keys: [CallerKey]
    /// The subject of the client certificate that identifies the caller. With keys as well, a
    /// request needs both: one of the keys, over a connection with this certificate.
    public var certificateSubject: CertificateSubject?

    public init(
        name: String, role: CallerIdentity.Role, pools: Set<String>? = nil, keys: [CallerKey],
        certificateSubject: CertificateSubject? = nil
    ) {
        self.name = name
        self.role = role
        self.pools = pools
        self.keys = keys
        self.certificateSubject = certificateSubject
    }

    /// A caller with one key.
    public init(name: String, role: CallerIdentity.Role, pools: Set<String>? = nil, keyDigest: KeyDigest, keyEnv: String? = nil) {
        let key = keyEnv.map { CallerKey(digest: keyDigest, source: .environment($0), index: 0) }
            ?? CallerKey(digest: keyDigest, source: .digest, index: 0)
        self.init(name: name, role: role, pools: pools, keys: [key])
    }

    public var identity: CallerIdentity {
        CallerIdentity(name: name, role: role, pools: role == .admin ? nil : pools)
    }

    /// Name, role, pools and certificate subject; the key digests are left out, as a digest of a
    /// weak key can be guessed offline.
    public var description: String {
        let grants = pools.map { " pools: [\($0.sorted().joined(separator: ", "))]" } ?? ""
        let subject = certificateSubject.map { " cert_subject: \($0)" } ?? ""
        return "\(name) (\(role.rawValue))\(grants)\(subject)"
    }
}

/// One bearer key of a caller: its digest and where the file gave it.
public struct CallerKey: Sendable, Equatable {
    public enum Source: Sendable, Equatable {
        /// Read from this environment variable (`key_env`).
        case environment(String)
        /// Written as its SHA-256 (`key_sha256`).
        case digest
    }

    public var digest: KeyDigest
    public var source: Source
    /// Its place in its field's list (0 for a single value).
    public var index: Int

    public init(digest: KeyDigest, source: Source, index: Int) {
        self.digest = digest
        self.source = source
        self.index = index
    }

    /// Which key this is, as the field that gave it (`key_env[1]`, `key_sha256[0]`): the `key`
    /// label of `poolwarden_authentications_total`, so that an operator sees when an old key is
    /// no longer used. It names the key's place in the file, never the key.
    public var label: String {
        switch source {
        case .environment: "key_env[\(index)]"
        case .digest: "key_sha256[\(index)]"
        }
    }
}
