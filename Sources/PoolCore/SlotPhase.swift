/// Where a connection slot is in its life; `free` slots hold no connection and are reused.
@usableFromInline
enum SlotPhase: UInt8, Sendable {
    case free
    case opening
    case backoff
    case idle
    case checking
    case leased
    case resetting
    case closing

    @inlinable
    var publicState: ConnectionState? {
        switch self {
        case .free: return nil
        case .opening: return .opening
        case .backoff: return .backoff
        case .idle: return .idle
        case .checking: return .checking
        case .leased: return .leased
        case .resetting: return .resetting
        case .closing: return .closing
        }
    }
}
