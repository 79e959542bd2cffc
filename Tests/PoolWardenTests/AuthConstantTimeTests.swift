import Testing

@testable import PoolWardenHTTP
@testable import PoolWardenRuntime

@Suite("Auth: constant-time comparison")
struct AuthConstantTimeTests {
    @Test("equal byte strings compare equal")
    func equal() {
        #expect(ConstantTime.equals([UInt8](), [UInt8]()))
        #expect(ConstantTime.equals([1, 2, 3] as [UInt8], [1, 2, 3] as [UInt8]))
        let bytes = (0..<256).map { UInt8($0) }
        #expect(ConstantTime.equals(bytes, bytes))
    }

    @Test("a difference anywhere is found", arguments: [0, 1, 15, 16, 30, 31])
    func differenceAnywhere(position: Int) {
        let a = (0..<32).map { UInt8($0) }
        for flip in [UInt8(1), 0x80, 0xFF] {
            var b = a
            b[position] ^= flip
            #expect(!ConstantTime.equals(a, b))
            #expect(!ConstantTime.equals(b, a))
        }
    }

    @Test("different lengths never compare equal, even when one is a prefix padded with zeros")
    func lengths() {
        #expect(!ConstantTime.equals([UInt8](), [0] as [UInt8]))
        #expect(!ConstantTime.equals([1, 2] as [UInt8], [1, 2, 0] as [UInt8]))
        #expect(!ConstantTime.equals([1, 2, 0] as [UInt8], [1, 2] as [UInt8]))
        #expect(!ConstantTime.equals([0] as [UInt8], [0, 0] as [UInt8]))
    }

    @Test("any collections of bytes can be compared")
    func collections() {
        let array: [UInt8] = Array("secret".utf8)
        #expect(ConstantTime.equals(array, "secret".utf8))
        #expect(ConstantTime.equals(array[1...], "ecret".utf8))
        #expect(!ConstantTime.equals("secret".utf8, "secreT".utf8))
    }

    @Test("the selection mask is all ones for no difference and zero otherwise")
    func mask() {
        #expect(ConstantTime.mask(forDifference: 0) == -1)
        for difference in 1...255 {
            #expect(ConstantTime.mask(forDifference: UInt8(difference)) == 0)
        }
        #expect(ConstantTime.difference([1, 2] as [UInt8], [1, 2] as [UInt8]) == 0)
        #expect(ConstantTime.difference([1, 2] as [UInt8], [1, 3] as [UInt8]) != 0)
    }
}
