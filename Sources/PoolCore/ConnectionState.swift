/// The state of one connection as the status rows show it.
public enum ConnectionState: String, Hashable, Sendable, CaseIterable {
    /// A connect attempt is in flight.
    case opening
    /// A connect attempt failed; the next one waits for its backoff timer.
    case backoff
    /// In the pool, ready to be handed out.
    case idle
    /// In the pool, being health-checked before it is handed out.
    case checking
    /// Held by exactly one lease.
    case leased
    /// Back from a lease or an expiry, being rolled back before reuse.
    case resetting
    /// Being closed.
    case closing
}
