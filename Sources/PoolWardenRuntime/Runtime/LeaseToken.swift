/// Lease tokens: `pwl_` followed by 43 URL-safe base64 characters that encode 256 bits from the
/// system CSPRNG (`SystemRandomNumberGenerator` is `getrandom(2)` on Linux). In a cluster, `.` and
/// the name of the replica that owns the lease follow, so that any replica can send a request to
/// the owner; the name adds nothing to guess, the 256 bits stay the secret.
///
/// A token is a bearer secret for one lease: it is shown once, in the borrow's answer, and logged,
/// listed and shown in status only by its first ``prefixLength`` characters.
package enum LeaseToken {
    static let prefix = "pwl_"
    static let randomBytes = 32
    /// `pwl_` plus the unpadded base64 of 32 bytes.
    static let length = 4 + 43
    /// What status rows, listings, logs and application_name show: `pwl_` and 8 more characters,
    /// enough to tell leases apart, far too few to guess the rest.
    static let prefixLength = 12

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// `owner`: this replica's name in a cluster, nil for a single service.
    static func generate(owner: String? = nil) -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(randomBytes + 1)
        for _ in 0..<(randomBytes / 8) {
            withUnsafeBytes(of: generator.next() as UInt64) { bytes.append(contentsOf: $0) }
        }
        let random = prefix + encode(bytes)
        return owner.map { random + "." + $0 } ?? random
    }

    /// Unpadded URL-safe base64 (RFC 4648 section 5).
    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index + 3 <= bytes.count {
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out.append(alphabet[Int(chunk >> 18 & 63)])
            out.append(alphabet[Int(chunk >> 12 & 63)])
            out.append(alphabet[Int(chunk >> 6 & 63)])
            out.append(alphabet[Int(chunk & 63)])
            index += 3
        }
        let rest = bytes.count - index
        if rest > 0 {
            let chunk = UInt32(bytes[index]) << 16 | (rest == 2 ? UInt32(bytes[index + 1]) << 8 : 0)
            out.append(alphabet[Int(chunk >> 18 & 63)])
            out.append(alphabet[Int(chunk >> 12 & 63)])
            if rest == 2 { out.append(alphabet[Int(chunk >> 6 & 63)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether `token` has the shape of a token; anything else is answered as unknown without a
    /// lookup.
    package static func isWellFormed(_ token: String) -> Bool {
        let utf8 = randomPart(of: token).utf8
        if let owner = owner(of: token), !ClusterSettings.isValidReplicaName(owner) { return false }
        guard utf8.count == length, token.hasPrefix(prefix) else { return false }
        return utf8.dropFirst(prefix.utf8.count).allSatisfy { byte in
            (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
                || byte == 0x2D || byte == 0x5F
        }
    }

    /// The replica a token names as its lease's owner; nil for a token of a single service.
    package static func owner(of token: String) -> String? {
        guard let dot = token.utf8.firstIndex(of: 0x2E) else { return nil }
        return String(token[token.index(after: dot)...])
    }

    private static func randomPart(of token: String) -> Substring {
        guard let dot = token.firstIndex(of: ".") else { return token[...] }
        return token[..<dot]
    }

    /// The part of a token that may be shown.
    package static func displayPrefix(_ token: String) -> String {
        String(token.prefix(prefixLength))
    }
}
