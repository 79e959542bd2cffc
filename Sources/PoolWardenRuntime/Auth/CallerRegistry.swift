import CoreMetrics

/// Answers "who is this?" for a request's `Authorization` header, from the callers of the config.
/// Keys are held only as SHA-256 digests, and a presented key is compared with every key of every
/// caller in constant time, so neither the timing nor the order of callers or keys tells an
/// attacker anything. A caller may have several keys (a new one rolled out before the old one is
/// removed); each use is counted per caller and key (`poolwarden_authentications_total`, the key
/// named by its place in the file), so an operator sees when an old key is no longer used.
///
/// Over mutual TLS a caller may instead be known by its client certificate's subject (the TLS
/// layer has already checked that the certificate is signed by the configured CA), or need both:
/// a key of its own, sent over a connection with its certificate.
public struct CallerRegistry: Sendable {
    private struct Entry: Sendable {
        var digest: KeyDigest
        var identity: CallerIdentity
        /// The certificate the key must come with, for a caller that needs both.
        var subject: CertificateSubject?
        var uses: Counter
    }

    /// Which caller and which of its credentials a request presented.
    public struct Match: Sendable {
        fileprivate let uses: Counter?
        public let identity: CallerIdentity
    }

    /// Why a request was not authenticated: the 401 to answer, and the metric's reason, which
    /// the answer's words do not always tell (see ``invalidKeyOrCertificate``).
    public struct Refusal: Error, Sendable {
        fileprivate enum Reason { case missing, invalid, certificate }
        public let error: WardenError
        fileprivate let reason: Reason
    }

    private static let missingKey = Refusal(error: .unauthorized("missing bearer key"), reason: .missing)
    private static let invalidKey = Refusal(error: .unauthorized("invalid key"), reason: .invalid)
    // Once some caller needs key and certificate together, a wrong key and a right key without
    // its certificate answer the same words: different ones would tell the holder of a stolen key
    // that it is valid.
    private static let invalidKeyOrCertificate = WardenError.unauthorized(
        "invalid key, or a key whose caller must connect with its own client certificate"
    )
    private static let unknownCertificate = Refusal(
        error: .unauthorized("missing bearer key, and the client certificate's subject names no caller"), reason: .missing
    )

    private let entries: [Entry]
    /// Callers known by their certificate alone.
    private let certificateCallers: [CertificateSubject: (identity: CallerIdentity, uses: Counter)]
    private let missing: Counter
    private let invalid: Counter
    private let certificate: Counter
    /// Some caller needs key and certificate together.
    private let pairsKeysWithCertificates: Bool

    public init(callers: [CallerConfig]) {
        entries = callers.flatMap { caller in
            caller.keys.map { key in
                Entry(
                    digest: key.digest,
                    identity: caller.identity,
                    subject: caller.certificateSubject,
                    uses: Counter(label: "poolwarden_authentications_total", dimensions: [("caller", caller.name), ("key", key.label)])
                )
            }
        }
        var certificateCallers: [CertificateSubject: (identity: CallerIdentity, uses: Counter)] = [:]
        for caller in callers where caller.keys.isEmpty {
            guard let subject = caller.certificateSubject else { continue }
            certificateCallers[subject] = (
                caller.identity,
                Counter(label: "poolwarden_authentications_total", dimensions: [("caller", caller.name), ("key", "cert_subject")])
            )
        }
        self.certificateCallers = certificateCallers
        pairsKeysWithCertificates = callers.contains { !$0.keys.isEmpty && $0.certificateSubject != nil }
        missing = Counter(label: "poolwarden_authentication_failures_total", dimensions: [("reason", "missing")])
        invalid = Counter(label: "poolwarden_authentication_failures_total", dimensions: [("reason", "invalid")])
        certificate = Counter(label: "poolwarden_authentication_failures_total", dimensions: [("reason", "certificate")])
    }

    public init(config: WardenConfig) {
        self.init(callers: config.callers)
    }

    /// No callers configured: there is no authentication and every request is
    /// ``CallerIdentity/anonymousAdmin``. The service must then listen on loopback only, and
    /// should say so at start.
    public var isOpen: Bool { entries.isEmpty && certificateCallers.isEmpty }

    /// Every caller once: those with keys in the file's order, then those known by their
    /// certificate alone.
    public var callers: [CallerIdentity] {
        var seen: Set<String> = []
        let certified = certificateCallers.values.map(\.identity).sorted { $0.name < $1.name }
        return (entries.map(\.identity) + certified).filter { seen.insert($0.name).inserted }
    }

    /// The caller whose key the header carries (`Bearer <key>`, scheme in any case), or whose
    /// certificate `peerSubject` is, counted in the metrics. Errors are
    /// ``WardenError/unauthorized(_:)`` and never repeat the presented key.
    public func authenticate(authorizationHeader: String?, peerSubject: CertificateSubject? = nil) -> Result<CallerIdentity, WardenError> {
        let result = identify(authorizationHeader: authorizationHeader, peerSubject: peerSubject)
        record(result)
        return result.map(\.identity).mapError(\.error)
    }

    /// As ``authenticate(authorizationHeader:peerSubject:)``, without counting: for a fast path
    /// that hands a request it does not answer to the full one, which authenticates it again.
    /// ``record(_:)`` counts what it answers itself.
    public func identify(authorizationHeader: String?, peerSubject: CertificateSubject? = nil) -> Result<Match, Refusal> {
        if isOpen { return .success(Match(uses: nil, identity: .anonymousAdmin)) }
        guard let key = Self.bearerKey(in: authorizationHeader) else {
            guard let peerSubject else { return .failure(Self.missingKey) }
            guard let caller = certificateCallers[peerSubject] else { return .failure(Self.unknownCertificate) }
            return .success(Match(uses: caller.uses, identity: caller.identity))
        }
        let presented = KeyDigest(hashing: key)
        // Every entry is compared and the match is picked arithmetically, so that the work done
        // is the same whichever caller or key (if any) the key belongs to.
        var match = -1
        for (index, entry) in entries.enumerated() {
            let mask = ConstantTime.mask(forDifference: ConstantTime.difference(entry.digest.bytes, presented.bytes))
            match = (index & mask) | (match & ~mask)
        }
        guard match >= 0 else {
            return .failure(pairsKeysWithCertificates ? Refusal(error: Self.invalidKeyOrCertificate, reason: .invalid) : Self.invalidKey)
        }
        let entry = entries[match]
        if let required = entry.subject, required != peerSubject {
            return .failure(Refusal(error: Self.invalidKeyOrCertificate, reason: .certificate))
        }
        return .success(Match(uses: entry.uses, identity: entry.identity))
    }

    /// Counts one authentication: the key or certificate used, or why there was none.
    public func record(_ result: Result<Match, Refusal>) {
        switch result {
        case .success(let match):
            match.uses?.increment()
        case .failure(let refusal):
            switch refusal.reason {
            case .missing: missing.increment()
            case .invalid: invalid.increment()
            case .certificate: certificate.increment()
            }
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
