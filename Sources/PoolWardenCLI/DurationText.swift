import PoolWardenHTTP
import PoolWardenRuntime

/// Durations for people reading a table: `850ms`, `42s`, `15m5s`, `2h3m`. Below a second in
/// milliseconds; above, whole seconds, since sub-second detail there is noise.
enum DurationText {
    static func short(milliseconds: Int) -> String {
        if milliseconds < 0 { return "-" + short(milliseconds: -milliseconds) }
        if milliseconds < 1000 { return "\(milliseconds)ms" }
        return ConfigDuration.format(.seconds(milliseconds / 1000))
    }
}
