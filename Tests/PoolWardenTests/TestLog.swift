#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import Testing

/// The service's logger in tests: quiet by default; `POOLWARDEN_TEST_LOG=trace` (or any level)
/// writes every line to stderr with a millisecond wall clock and the thread, so a slow borrow can
/// be followed step by step and lined up with what else the process was doing.
/// `POOLWARDEN_TEST_LOG_ONLY=TEXT` keeps that to the tests whose name contains TEXT, so that one
/// test can be followed in a full (loaded) run without slowing every other test.
enum TestLog {
    static func logger(_ label: String, quiet: Logger.Level) -> Logger {
        let environment = ProcessInfo.processInfo.environment
        let chosen = environment["POOLWARDEN_TEST_LOG_ONLY"].map { only in Test.current?.name.contains(only) == true } ?? true
        guard chosen, let level = environment["POOLWARDEN_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) else {
            var logger = Logger(label: label)
            logger.logLevel = quiet
            return logger
        }
        var logger = Logger(label: label) { label in StampedLogHandler(label: label) }
        logger.logLevel = level
        return logger
    }
}

struct StampedLogHandler: LogHandler {
    let label: String
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var local = tm()
        var seconds = now.tv_sec
        localtime_r(&seconds, &local)
        let stamp = String(format: "%02d:%02d:%02d.%03d", local.tm_hour, local.tm_min, local.tm_sec, now.tv_nsec / 1_000_000)
        let thread = Thread.current.name ?? "?"
        let all = metadata.merging(event.metadata ?? [:]) { $1 }.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
        let line = "\(stamp) [\(thread)] \(event.level) \(event.message) \(all)\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
