@testable import PoolCore

/// Plain values for everything: a connection handle is an Int, a caller a String.
enum TestTypes: PoolTypes {
    typealias Connection = Int
    typealias Caller = String
    typealias Instant = MockInstant
    typealias Random = SplitMix64
}

typealias TestGroup = PoolGroup<TestTypes>
