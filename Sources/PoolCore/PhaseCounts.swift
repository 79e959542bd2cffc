/// Slots per phase, kept in step with every phase change so limits are checked in O(1).
@usableFromInline
struct PhaseCounts: Hashable, Sendable {
    @usableFromInline var opening = 0
    @usableFromInline var backoff = 0
    @usableFromInline var idle = 0
    @usableFromInline var checking = 0
    @usableFromInline var leased = 0
    @usableFromInline var resetting = 0
    @usableFromInline var closing = 0

    @inlinable
    init() {}

    /// Everything that is or may become a server connection: what `max` and server budgets count.
    @inlinable
    var total: Int {
        self.opening + self.backoff + self.idle + self.checking + self.leased + self.resetting + self.closing
    }

    /// Connections the pool keeps: what `min` and surplus after a shrink count.
    @inlinable
    var kept: Int { self.total - self.closing }

    /// Connections on their way to serve a waiter without anyone releasing a lease.
    @inlinable
    var pendingSupply: Int { self.opening + self.backoff + self.checking + self.resetting }

    @inlinable
    subscript(phase: SlotPhase) -> Int {
        get {
            switch phase {
            case .free: return 0
            case .opening: return self.opening
            case .backoff: return self.backoff
            case .idle: return self.idle
            case .checking: return self.checking
            case .leased: return self.leased
            case .resetting: return self.resetting
            case .closing: return self.closing
            }
        }
        set {
            switch phase {
            case .free: break
            case .opening: self.opening = newValue
            case .backoff: self.backoff = newValue
            case .idle: self.idle = newValue
            case .checking: self.checking = newValue
            case .leased: self.leased = newValue
            case .resetting: self.resetting = newValue
            case .closing: self.closing = newValue
            }
        }
    }
}
