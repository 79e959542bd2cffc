/// Lease tokens: `pwl_` followed by 43 URL-safe base64 characters that encode 256 bits from the
/// system CSPRNG (`SystemRandomNumberGenerator` is `getrandom(2)` on Linux).
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

    static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(randomBytes + 1)
        for _ in 0..<(randomBytes / 8) {
            withUnsafeBytes(of: generator.next() as UInt64) { bytes.append(contentsOf: $0) }
        }
        return prefix + encode(bytes)
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
    static func isWellFormed(_ token: String) -> Bool {
        let utf8 = token.utf8
        guard utf8.count == length, token.hasPrefix(prefix) else { return false }
        return utf8.dropFirst(prefix.utf8.count).allSatisfy { byte in
            (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
                || byte == 0x2D || byte == 0x5F
        }
    }

    /// The part of a token that may be shown.
    package static func displayPrefix(_ token: String) -> String {
        String(token.prefix(prefixLength))
    }
}
