#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// The event loops' side of `StallProbe` (`POOLWARDEN_STALL_PROBE=FILE`): every 10 ms a task is
/// scheduled on each loop of NIO's singleton group, which the in-process services' channels and
/// their handlers run on, and each one that starts more than 100 ms late is logged to FILE with
/// the loop's number, so that a hang-up noticed late can be lined up with what held its loop. With
/// `POOLWARDEN_STALL_DUMP=1` (or another number of seconds), a loop that has started none of them
/// for that long has gdb dump every thread's stack to FILE.loopN (at most 4).
enum EventLoopStallProbe {
    private static let started = Mutex(false)

    static func startIfAsked() {
        guard let path = ProcessInfo.processInfo.environment["POOLWARDEN_STALL_PROBE"], !path.isEmpty else { return }
        guard started.withLock({ started in defer { started = true }; return !started }) else { return }
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        let dumpAfter = ProcessInfo.processInfo.environment["POOLWARDEN_STALL_DUMP"].map { Duration.seconds(Double($0) ?? 1) }
        let dumps = Mutex(0)
        for (number, loop) in MultiThreadedEventLoopGroup.singleton.makeIterator().enumerated() {
            let lastStart = Mutex(ContinuousClock.now)
            let thread = Thread {
                while true {
                    usleep(10_000)
                    let enqueued = ContinuousClock.now
                    if let dumpAfter, enqueued - lastStart.withLock({ $0 }) > dumpAfter,
                        let dump = dumps.withLock({ count -> Int? in count < 4 ? { count += 1; return count }() : nil })
                    {
                        _ = system("gdb -p \(getpid()) -batch -ex 'thread apply all bt 40' > '\(path).loop\(dump)' 2>&1")
                        lastStart.withLock { $0 = ContinuousClock.now }
                    }
                    loop.execute {
                        lastStart.withLock { $0 = ContinuousClock.now }
                        let late = ContinuousClock.now - enqueued
                        guard late > .milliseconds(100) else { return }
                        let formatter = DateFormatter()
                        formatter.dateFormat = "HH:mm:ss.SSS"
                        let seconds = Double(late.components.seconds) + Double(late.components.attoseconds) / 1e18
                        let line = "\(formatter.string(from: Date())) event loop \(number): a task started \(String(format: "%.3f", seconds)) s late\n"
                        _ = Array(line.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                    }
                }
            }
            thread.name = "loop-probe-\(number)"
            thread.start()
        }
    }
}
