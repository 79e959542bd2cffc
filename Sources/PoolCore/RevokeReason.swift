/// Why a lease was taken away from its holder; its token answers 410 Gone from then on.
public enum RevokeReason: Hashable, Sendable {
    /// Idle past its ttl. Counted in `expired`.
    case expired
    /// An immediate recycle. Counted in `revoked`.
    case recycled
    /// Its pool was deleted with leases revoked. Counted in `revoked`.
    case deleted
    /// The group shut down. Counted in `revoked`.
    case shutdown
    /// An operator revoked this one lease. Counted in `revoked`.
    case revoked
    /// Its connection lost its global slot and was closed. Counted in `revoked`.
    case slotLost
}
