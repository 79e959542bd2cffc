@testable import PoolCore

extension RandomizedRuntime {
    /// A lease the runtime holds, as its grant described it.
    struct Lease {
        var pool: PoolID
        var caller: String
        var key: String?
        var connection: ConnectionID
    }
}
