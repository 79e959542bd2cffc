/// Comparisons whose running time does not depend on where two byte strings differ, so that
/// timing a request reveals nothing about how much of a key was right.
public enum ConstantTime {
    /// Whether `a` and `b` hold the same bytes. Every byte of the longer one is visited whatever
    /// the contents; only the lengths (not secret for fixed-size digests) shape the loop.
    public static func equals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        difference(a, b) == 0
    }

    /// Zero when equal, non-zero otherwise, computed without a data-dependent branch.
    @inline(never)
    static func difference(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> UInt8 {
        let left = Array(a)
        let right = Array(b)
        let length = Swift.max(left.count, right.count)
        var accumulated: UInt8 = left.count == right.count ? 0 : 1
        for index in 0..<length {
            let x = index < left.count ? left[index] : 0
            let y = index < right.count ? right[index] : 0
            accumulated |= x ^ y
        }
        return accumulated
    }

    /// All ones when `difference` is zero, else zero, without a branch: used to select a match
    /// arithmetically.
    static func mask(forDifference difference: UInt8) -> Int {
        (Int(difference) &- 1) >> (Int.bitWidth - 1)
    }
}
