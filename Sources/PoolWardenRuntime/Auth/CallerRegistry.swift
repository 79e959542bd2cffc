/// Answers "who is this?" for a request's `Authorization` header, from the callers of the config.
/// Keys are held only as SHA-256 digests, and a presented key is compared with every caller's in
/// constant time, so neither the timing nor the order of callers tells an attacker anything.
public struct CallerRegistry: Sendable {
    private struct Entry: Sendable {
        var digest: KeyDigest
        var identity: CallerIdentity
    }

    private let entries: [Entry]

    public init(callers: [CallerConfig]) {
        entries = callers.map { Entry(digest: $0.keyDigest, identity: $0.identity) }
    }

    public init(config: WardenConfig) {
        self.init(callers: config.callers)
    }

    /// No callers configured: there is no authentication and every request is
    /// ``CallerIdentity/anonymousAdmin``. The service must then listen on loopback only, and
    /// should say so at start.
    public var isOpen: Bool { entries.isEmpty }

    public var callers: [CallerIdentity] { entries.map(\.identity) }

    /// The caller whose key the header carries (`Bearer <key>`, scheme in any case). Errors are
    /// ``WardenError/unauthorized(_:)`` and never repeat the presented key.
    public func authenticate(authorizationHeader: String?) -> Result<CallerIdentity, WardenError> {
        if isOpen { return .success(.anonymousAdmin) }
        guard let key = Self.bearerKey(in: authorizationHeader) else {
            return .failure(.unauthorized("missing bearer key"))
        }
        let presented = KeyDigest(hashing: key)
        // Every entry is compared and the match is picked arithmetically, so that the work done
        // is the same whichever caller (if any) the key belongs to.
        var match = -1
        for (index, entry) in entries.enumerated() {
            let mask = ConstantTime.mask(forDifference: ConstantTime.difference(entry.digest.bytes, presented.bytes))
            match = (index & mask) | (match & ~mask)
        }
        guard match >= 0 else { return .failure(.unauthorized("invalid key")) }
        return .success(entries[match].identity)
    }

    /// The credentials after a `Bearer` scheme (RFC 6750), or nil when there are none.
    static func bearerKey(in header: String?) -> Substring? {
        guard let header else { return nil }
        let text = ConfigText.trimmed(header)
        guard let separator = text.firstIndex(where: { $0 == " " || $0 == "\t" }) else { return nil }
        guard text[..<separator].lowercased() == "bearer" else { return nil }
        let key = ConfigText.trimmed(String(text[separator...]))
        return key.isEmpty ? nil : key
    }
}
