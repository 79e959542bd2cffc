import ArgumentParser
import Foundation
import PoolWardenHTTP
import PoolWardenRuntime

/// A duration on the command line, written as in the config file: `200ms`, `5s`, `10m`, `1h`,
/// `1m30s`, and `off`, spelled as the config spells a setting turned off. The contract carries
/// durations as integer milliseconds, where 0 turns such a setting off, so `off` travels as 0
/// (and the service refuses it where nothing can be turned off).
struct DurationArgument: ExpressibleByArgument {
    let duration: Duration

    init?(argument: String) {
        if argument.trimmingCharacters(in: .whitespaces).lowercased() == "off" {
            duration = .zero
            return
        }
        guard let duration = ConfigDuration.parse(argument) else { return nil }
        self.duration = duration
    }

    /// Whole milliseconds, rounded down; the service checks the bounds. (`parse` caps a duration
    /// at Int64.max nanoseconds, so this cannot overflow.)
    var milliseconds: Int {
        let (seconds, attoseconds) = duration.components
        return Int(seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }
}
