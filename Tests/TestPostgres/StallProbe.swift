#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// A diagnostic for a loaded machine (`POOLWARDEN_STALL_PROBE=FILE`): a plain thread enqueues an
/// empty job on Swift's global executor every 10 ms and measures how late it starts. Each job
/// more than 100 ms late is logged to FILE with the wall clock time, so that a slow borrow can be
/// lined up with the moments the cooperative pool (which runs the test bodies and the services
/// they start) was held; at exit a summary line goes there too. With `POOLWARDEN_STALL_DUMP=1`, a
/// job still waiting after 1 s has gdb dump every thread's stack to FILE.gdbN (at most 6, each
/// pausing the process for some seconds).
///
/// Issue 12 found its cause this way: two synchronous tests held both threads of the pool for
/// seconds, and every in-process service stood still.
public final class StallProbe: Sendable {
    private static let shared = Mutex<StallProbe?>(nil)
    private let fd: Int32
    private let path: String
    private let pending = Mutex<[UInt64: ContinuousClock.Instant]>([:])
    private let delays = Mutex<[Duration]>([])

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    /// Starts the probe once per process when `POOLWARDEN_STALL_PROBE` names a file.
    public static func startIfAsked() {
        guard let path = ProcessInfo.processInfo.environment["POOLWARDEN_STALL_PROBE"], !path.isEmpty else { return }
        let probe = shared.withLock { shared -> StallProbe? in
            guard shared == nil else { return nil }
            let probe = StallProbe(path: path, fd: open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644))
            shared = probe
            return probe
        }
        guard let probe else { return }
        probe.log("probe started, pid \(getpid())")
        atexit { StallProbe.shared.withLock { $0 }?.summarize() }
        let thread = Thread { probe.loop() }
        thread.name = "stall-probe"
        thread.start()
    }

    private func log(_ line: String) {
        let formatter = DateFormatter()
        formatter.dateFormat = "HH:mm:ss.SSS"
        let bytes = Array((formatter.string(from: Date()) + " " + line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    private func loop() {
        var next: UInt64 = 0
        var lastDump = ContinuousClock.now - .seconds(60)
        var dumps = 0
        let dumping = ProcessInfo.processInfo.environment["POOLWARDEN_STALL_DUMP"] != nil
        while true {
            usleep(10_000)
            let enqueued = ContinuousClock.now
            next += 1
            let id = next
            pending.withLock { $0[id] = enqueued }
            Task.detached { [self] in
                let delay = ContinuousClock.now - enqueued
                pending.withLock { _ = $0.removeValue(forKey: id) }
                delays.withLock { $0.append(delay) }
                if delay > .milliseconds(100) { log("global executor: a job started \(Self.milliseconds(delay)) ms late") }
            }
            guard dumping, dumps < 6, ContinuousClock.now - lastDump > .seconds(15) else { continue }
            guard let oldest = pending.withLock({ $0.values.min() }), ContinuousClock.now - oldest > .seconds(1) else { continue }
            lastDump = ContinuousClock.now
            dumps += 1
            log("global executor held for more than 1 s: thread dump \(path).gdb\(dumps)")
            _ = system("gdb -p \(getpid()) -batch -ex 'thread apply all bt 30' > '\(path).gdb\(dumps)' 2>&1")
        }
    }

    private func summarize() {
        let sorted = delays.withLock { $0 }.sorted()
        guard !sorted.isEmpty else { return }
        let p99 = sorted[Swift.min(sorted.count - 1, sorted.count * 99 / 100)]
        log("summary: \(sorted.count) probe jobs, p50 \(Self.milliseconds(sorted[sorted.count / 2])) ms, p99 \(Self.milliseconds(p99)) ms, worst \(Self.milliseconds(sorted[sorted.count - 1])) ms late")
    }

    private static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return String(format: "%.1f", Double(seconds) * 1000 + Double(attoseconds) / 1e15)
    }
}
