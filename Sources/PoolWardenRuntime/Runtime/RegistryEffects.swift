import PoolCore

/// What a locked step leaves for after the lock: borrows to answer, signals to fire, and
/// connections opened for a slot that no longer wants them.
struct RegistryEffects: Sendable {
    var answers: [(CheckedContinuation<Result<BorrowGrant, WardenError>, Never>, Result<BorrowGrant, WardenError>)] = []
    var signals: [CompletionSignal] = []
    var strays: [(id: ConnectionID, connection: ServerConnection)] = []
    /// Pools whose `max` changed, for the cluster's slots.
    var limitChanges: [(pool: String, max: Int)] = []
}
