/// The instant the group counts time from. Internally every instant is kept as the `Duration`
/// since this origin: `Duration` has a fixed layout, while an instant type such as
/// `ContinuousClock.Instant` is resilient and would make every slot and action an opaque value.
///
/// A class, so that the group itself keeps a fixed layout whatever the instant type is.
@usableFromInline
final class InstantOrigin<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    @usableFromInline let instant: Instant

    @inlinable
    init(_ instant: Instant) {
        self.instant = instant
    }

    @inlinable
    func ticks(_ now: Instant) -> Duration {
        self.instant.duration(to: now)
    }

    @inlinable
    func instant(_ ticks: Duration) -> Instant {
        self.instant.advanced(by: ticks)
    }
}
