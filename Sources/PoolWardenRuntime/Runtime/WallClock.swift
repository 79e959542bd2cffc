import Foundation

/// One reading of both clocks, to show PoolCore's continuous-clock instants as dates.
struct WallClock {
    let instant: ContinuousClock.Instant
    let date: Date

    init() {
        instant = .now
        date = Date()
    }

    func date(of other: ContinuousClock.Instant) -> Date {
        date.addingTimeInterval(Self.seconds(other - instant))
    }

    static func seconds(_ duration: Duration) -> TimeInterval {
        let (seconds, attoseconds) = duration.components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
