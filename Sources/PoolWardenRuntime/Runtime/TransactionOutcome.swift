import PostgresLibPQ

/// A committed transaction: one result per statement, and how many tries it took.
public struct TransactionOutcome: Sendable {
    public var results: [PGQueryResult]
    /// 1, or more when serialization failures or deadlocks were retried.
    public var attempts: Int

    public init(results: [PGQueryResult], attempts: Int) {
        self.results = results
        self.attempts = attempts
    }
}
