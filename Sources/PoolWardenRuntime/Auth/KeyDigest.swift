import Crypto

/// The SHA-256 digest of a caller's bearer key, the only form in which a key is kept. Equality is
/// constant-time.
public struct KeyDigest: Sendable, Equatable, CustomStringConvertible {
    static let byteCount = 32

    let bytes: [UInt8]

    /// Hashes `key` (its UTF-8 bytes). The caller should drop `key` afterwards.
    public init(hashing key: some StringProtocol) {
        bytes = Array(SHA256.hash(data: Array(key.utf8)))
    }

    /// Reads a digest written as 64 hexadecimal characters (either case), as `key_sha256` holds
    /// it and `sha256sum` prints it; nil otherwise.
    public init?(hex: String) {
        let digits = Array(hex.utf8)
        guard digits.count == 2 * Self.byteCount, digits.allSatisfy(ConfigText.isHexDigit) else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.byteCount)
        for index in stride(from: 0, to: digits.count, by: 2) {
            bytes.append(Self.nibble(digits[index]) << 4 | Self.nibble(digits[index + 1]))
        }
        self.bytes = bytes
    }

    public static func == (lhs: KeyDigest, rhs: KeyDigest) -> Bool {
        ConstantTime.equals(lhs.bytes, rhs.bytes)
    }

    /// The digest as `key_sha256` spells it, for the running configuration an admin asks for
    /// (``ConfigRenderer``) and nowhere else.
    var hex: String {
        bytes.map { byte in String(byte >> 4, radix: 16) + String(byte & 0xF, radix: 16) }.joined()
    }

    /// Deliberately opaque: a digest of a weak key can be reversed by guessing.
    public var description: String { "KeyDigest(sha256)" }

    private static func nibble(_ digit: UInt8) -> UInt8 {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        default: digit - UInt8(ascii: "A") + 10
        }
    }
}
