import PostgresLibPQ

/// A transaction to run in one call: its statements, how it begins, and its bounds.
public struct TransactionRequest: Sendable {
    /// Run in order between BEGIN and COMMIT; their `limits` are ignored (the pool's apply).
    public var statements: [PGStatement]
    public var mode: PGTransactionMode
    /// Bounds the whole transaction, retries included; capped as a statement's timeout is.
    public var timeout: Duration?
    /// How long to wait for a connection; the pool's `borrow_timeout` when nil.
    public var wait: Duration?
    /// Whether a serialization failure (40001) or deadlock (40P01) runs the transaction again, up
    /// to `PoolRegistry.serializationRetries` more times.
    public var retryOnSerializationFailure: Bool

    public init(
        statements: [PGStatement],
        mode: PGTransactionMode = PGTransactionMode(),
        timeout: Duration? = nil,
        wait: Duration? = nil,
        retryOnSerializationFailure: Bool = false
    ) {
        self.statements = statements
        self.mode = mode
        self.timeout = timeout
        self.wait = wait
        self.retryOnSerializationFailure = retryOnSerializationFailure
    }
}
