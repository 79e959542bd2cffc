import Testing

@testable import PoolWardenHTTP
@testable import PoolWardenRuntime

@Suite("Auth: key digests")
struct AuthKeyDigestTests {
    /// `printf %s test | sha256sum`
    static let testDigest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

    @Test("hashing matches SHA-256 and the hex form, in either case")
    func knownVector() throws {
        let hashed = KeyDigest(hashing: "test")
        #expect(hashed.bytes.count == 32)
        #expect(try #require(KeyDigest(hex: Self.testDigest)) == hashed)
        #expect(try #require(KeyDigest(hex: Self.testDigest.uppercased())) == hashed)
        #expect(KeyDigest(hashing: "test ") != hashed)
        #expect(KeyDigest(hashing: "test"[...]) == hashed)
    }

    @Test("anything but 64 hex characters is refused", arguments: [
        "", "9f86", String(testDigest.dropLast()), testDigest + "0", String(testDigest.dropLast()) + "g",
        " " + String(testDigest.dropFirst()), "0x" + String(testDigest.dropFirst(2)),
    ])
    func badHex(text: String) {
        #expect(KeyDigest(hex: text) == nil)
    }

    @Test("the description shows nothing of the digest")
    func opaque() {
        let digest = KeyDigest(hashing: "test")
        #expect(digest.description == "KeyDigest(sha256)")
        #expect(!String(reflecting: digest).contains("9f86"))
    }
}
