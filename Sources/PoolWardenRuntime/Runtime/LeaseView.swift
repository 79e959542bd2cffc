import Foundation
import PostgresLibPQ

/// A live lease as the API shows it.
public struct LeaseView: Sendable, Equatable {
    /// The full token: only in the answer to the borrow that created (or, with the same key,
    /// found) the lease; nil in every other view.
    public var token: String?
    /// The first 12 characters of the token (`pwl_` and 8 more), safe to show and log.
    public var tokenPrefix: String
    public var pool: String
    /// The caller who borrowed it.
    public var caller: String
    /// The server connection's id in the pool's status rows.
    public var connectionID: Int
    public var backendPID: Int32
    public var createdAt: Date
    /// When the lease expires unless it is used or renewed first; a lease never expires while a
    /// statement runs.
    public var expiresAt: Date
    /// When its last statement ended; nil before the first one.
    public var lastUsedAt: Date?
    public var ttl: Duration
    /// The idempotency key it was borrowed with.
    public var key: String?
    /// `.active` while a statement runs; otherwise libpq's view after the last statement.
    public var transactionStatus: PGTransactionStatus

    public init(
        token: String?,
        tokenPrefix: String,
        pool: String,
        caller: String,
        connectionID: Int,
        backendPID: Int32,
        createdAt: Date,
        expiresAt: Date,
        lastUsedAt: Date?,
        ttl: Duration,
        key: String?,
        transactionStatus: PGTransactionStatus
    ) {
        self.token = token
        self.tokenPrefix = tokenPrefix
        self.pool = pool
        self.caller = caller
        self.connectionID = connectionID
        self.backendPID = backendPID
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.lastUsedAt = lastUsedAt
        self.ttl = ttl
        self.key = key
        self.transactionStatus = transactionStatus
    }
}
