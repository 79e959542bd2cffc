/// A timer the runtime runs: call ``PoolGroup/timerFired(_:now:)`` with `kind` once `delay` has
/// passed since the instant of the event that scheduled it.
///
/// The delay is relative because the runtime holds that instant anyway, and an absolute instant of
/// a resilient clock type would make every ``PoolAction`` an opaque value.
public struct PoolTimer: Hashable, Sendable {
    public var kind: PoolTimerKind
    public var delay: Duration

    @inlinable
    public init(kind: PoolTimerKind, delay: Duration) {
        self.kind = kind
        self.delay = delay
    }

    /// The instant the timer is due, given the instant of the event that scheduled it.
    @inlinable
    public func deadline<Instant: InstantProtocol>(after now: Instant) -> Instant where Instant.Duration == Duration {
        now.advanced(by: self.delay)
    }
}
