/// What a list of statements run as one call did: the results of the statements that succeeded,
/// in order, up to the first failure.
public struct PGBatchOutcome: Sendable {
    /// One result per statement that succeeded, in the list's order.
    public var results: [PGQueryResult] = []
    /// The first statement that failed; nil when all succeeded.
    public var failure: PGStatementFailure?
    /// For a transaction: whether its COMMIT succeeded. It can, even with a `failure`, when the
    /// failure is the driver's own (a result over the limit) and COMMIT had already run on the
    /// server by the time the cancel arrived.
    public var committed = false
    /// For a transaction: the outcomes of the statements that followed it in the same round trip.
    public var trailing: [Result<PGQueryResult, PGError>] = []

    public init() {}
}

/// A failed statement of a list and its position in it.
public struct PGStatementFailure: Error, Sendable, Hashable {
    /// The statement's index in the list; for a transaction the list's count when COMMIT itself
    /// failed (a serialization failure found at commit), -1 when BEGIN did.
    public var index: Int
    public var error: PGError

    public init(index: Int, error: PGError) {
        self.index = index
        self.error = error
    }
}
