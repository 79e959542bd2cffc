import CoreMetrics

/// Answers "who is this?" for a request's `Authorization` header, from the callers of the config.
/// Keys are held only as SHA-256 digests, and a presented key is compared with every key of every
/// caller in constant time, so neither the timing nor the order of callers or keys tells an
/// attacker anything. A caller may have several keys (a new one rolled out before the old one is
/// removed); each use is counted per caller and key (`poolwarden_authentications_total`, the key
/// named by its place in the file), so an operator sees when an old key is no longer used.
public struct CallerRegistry: Sendable {
    private struct Entry: Sendable {
        var digest: KeyDigest
        var identity: CallerIdentity
        var uses: Counter
    }

    /// Which caller and which of its keys a request presented.
    public struct Match: Sendable {
        fileprivate let entry: Int
        public let identity: CallerIdentity
    }

    private static let missingKey = WardenError.unauthorized("missing bearer key")
    private static let invalidKey = WardenError.unauthorized("invalid key")

    private let entries: [Entry]
    private let missing: Counter
    private let invalid: Counter

    public init(callers: [CallerConfig]) {
        entries = callers.flatMap { caller in
            caller.keys.map { key in
                Entry(
                    digest: key.digest,
                    identity: caller.identity,
                    uses: Counter(label: "poolwarden_authentications_total", dimensions: [("caller", caller.name), ("key", key.label)])
                )
            }
        }
        missing = Counter(label: "poolwarden_authentication_failures_total", dimensions: [("reason", "missing")])
        invalid = Counter(label: "poolwarden_authentication_failures_total", dimensions: [("reason", "invalid")])
    }

    public init(config: WardenConfig) {
        self.init(callers: config.callers)
    }

    /// No callers configured: there is no authentication and every request is
    /// ``CallerIdentity/anonymousAdmin``. The service must then listen on loopback only, and
    /// should say so at start.
    public var isOpen: Bool { entries.isEmpty }

    /// Every caller once, in the file's order.
    public var callers: [CallerIdentity] {
        var seen: Set<String> = []
        return entries.map(\.identity).filter { seen.insert($0.name).inserted }
    }

    /// The caller whose key the header carries (`Bearer <key>`, scheme in any case), counted in
    /// the metrics. Errors are ``WardenError/unauthorized(_:)`` and never repeat the presented key.
    public func authenticate(authorizationHeader: String?) -> Result<CallerIdentity, WardenError> {
        let result = identify(authorizationHeader: authorizationHeader)
        record(result)
        return result.map(\.identity)
    }

    /// As ``authenticate(authorizationHeader:)``, without counting: for a fast path that hands a
    /// request it does not answer to the full one, which authenticates it again. ``record(_:)``
    /// counts what it answers itself.
    public func identify(authorizationHeader: String?) -> Result<Match, WardenError> {
        if isOpen { return .success(Match(entry: -1, identity: .anonymousAdmin)) }
        guard let key = Self.bearerKey(in: authorizationHeader) else {
            return .failure(Self.missingKey)
        }
        let presented = KeyDigest(hashing: key)
        // Every entry is compared and the match is picked arithmetically, so that the work done
        // is the same whichever caller or key (if any) the key belongs to.
        var match = -1
        for (index, entry) in entries.enumerated() {
            let mask = ConstantTime.mask(forDifference: ConstantTime.difference(entry.digest.bytes, presented.bytes))
            match = (index & mask) | (match & ~mask)
        }
        guard match >= 0 else { return .failure(Self.invalidKey) }
        return .success(Match(entry: match, identity: entries[match].identity))
    }

    /// Counts one authentication: the key used, or why there was none.
    public func record(_ result: Result<Match, WardenError>) {
        switch result {
        case .success(let match):
            if match.entry >= 0 { entries[match.entry].uses.increment() }
        case .failure(Self.missingKey):
            missing.increment()
        case .failure:
            invalid.increment()
        }
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
