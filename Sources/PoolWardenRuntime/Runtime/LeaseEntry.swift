import Foundation
import PoolCore

/// A live lease as the registry knows it, keyed by its token. PoolCore keeps its timing (TTL,
/// expiry); this keeps what the API needs beside it.
struct LeaseEntry {
    let lease: LeaseID
    let pool: PoolID
    let poolName: String
    let caller: String
    let key: String?
    let connectionID: ConnectionID
    let connection: ServerConnection
    let createdAt: Date
    var lastUsedAt: Date?
    /// A statement, a release or the application_name tagging runs on it: a second statement
    /// answers `lease_busy`. PoolCore is told too (`leaseTouched(running: true)`), so the lease
    /// cannot expire meanwhile.
    var busy = false
    /// False until the borrower has the token (the application_name tag is set): a lease revoked
    /// before that ends unseen, and its borrow tries again.
    var handedOver = true
    /// The session was reset in the same round trip as the lease's last statement (a single
    /// shot): it goes back to the pool as it is, with no reset of its own.
    var pristine = false
    /// The holder asked for a release while a statement ran: the statement is being cancelled.
    var releasing = false
}
