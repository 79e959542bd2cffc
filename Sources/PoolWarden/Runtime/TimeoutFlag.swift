import Synchronization

/// The race between a watchdog and the operation it guards, settled once: either the watchdog
/// fires (and the operation must wait for its cancel to be delivered) or the operation disarms it
/// first (and need not wait for the watchdog task at all).
final class TimeoutFlag: Sendable {
    private static let armed = 0
    private static let fired = 1
    private static let disarmed = 2

    private let value = Atomic<Int>(TimeoutFlag.armed)

    /// The watchdog's deadline passed: true if it may act, false if the operation was first.
    func fire() -> Bool {
        value.compareExchange(expected: Self.armed, desired: Self.fired, ordering: .acquiringAndReleasing).exchanged
    }

    /// The operation ended: true if the watchdog never fired and never will.
    func disarm() -> Bool {
        value.compareExchange(expected: Self.armed, desired: Self.disarmed, ordering: .acquiringAndReleasing).exchanged
    }
}
