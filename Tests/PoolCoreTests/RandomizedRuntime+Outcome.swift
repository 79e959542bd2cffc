@testable import PoolCore

extension RandomizedRuntime {
    /// How a borrow ended.
    enum Outcome: Hashable {
        case served
        case timedOut
        case failed(BorrowFailure)
    }
}
