@testable import PoolCore

extension RandomizedRuntime {
    /// A borrow the runtime is waiting to have answered.
    struct Request {
        var pool: PoolID
        var caller: String
        var key: String?
        var arrival: UInt64
        var deadline: MockInstant
    }
}
