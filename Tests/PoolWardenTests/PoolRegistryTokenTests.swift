@testable import PoolWardenHTTP
@testable import PoolWardenRuntime
import TestPostgres
import Testing

/// Lease tokens: format, charset, and enough entropy that 10,000 of them never collide.
@Suite(.ownThread) struct PoolRegistryTokenTests {
    @Test func tokensAreUniqueURLSafeAndPrefixed() {
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        var seen = Set<String>()
        var characterCounts: [Character: Int] = [:]
        for _ in 0..<10_000 {
            let token = LeaseToken.generate()
            #expect(token.count == 47)
            #expect(token.hasPrefix("pwl_"))
            let body = token.dropFirst(4)
            #expect(body.allSatisfy(alphabet.contains))
            #expect(LeaseToken.isWellFormed(token))
            seen.insert(token)
            for character in body.dropLast() { characterCounts[character, default: 0] += 1 }
        }
        #expect(seen.count == 10_000)
        // 420,000 characters over 64 symbols: about 6,560 each if the bits are uniform.
        #expect(characterCounts.count == 64)
        #expect(characterCounts.values.allSatisfy { (5_800...7_400).contains($0) })
    }

    @Test func malformedTokensAreRecognised() {
        let token = LeaseToken.generate()
        #expect(!LeaseToken.isWellFormed(String(token.dropLast())))
        #expect(!LeaseToken.isWellFormed(token + "A"))
        #expect(!LeaseToken.isWellFormed("pwx_" + token.dropFirst(4)))
        #expect(!LeaseToken.isWellFormed("pwl_" + String(repeating: "+", count: 43)))
        #expect(!LeaseToken.isWellFormed(""))
        #expect(LeaseToken.displayPrefix(token).count == 12)
    }

    @Test func base64MatchesRFC4648() {
        #expect(LeaseToken.encode(Array("foobar".utf8)) == "Zm9vYmFy")
        #expect(LeaseToken.encode(Array("fooba".utf8)) == "Zm9vYmE")
        #expect(LeaseToken.encode(Array("foob".utf8)) == "Zm9vYg")
        #expect(LeaseToken.encode([0xFB, 0xFF, 0xBF]) == "-_-_")
    }
}
