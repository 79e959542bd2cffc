import Foundation

/// This process's resident memory from /proc/self/status, for tests that bound what a request may
/// cost. Every suite of the run shares the process, so a figure includes whatever runs meanwhile.
enum ProcessMemory {
    /// Resident bytes now (VmRSS).
    static var resident: Int { field("VmRSS") }
    /// The highest resident bytes since the last `resetPeak()` or the start (VmHWM).
    static var peak: Int { field("VmHWM") }

    /// Lowers the peak to what is resident now (Linux's clear_refs `5`), so that the next reading
    /// covers one step rather than the whole run. Returns false where that is not allowed; the
    /// peak then covers the whole run, and a bound on its growth can only pass more easily.
    @discardableResult
    static func resetPeak() -> Bool {
        (try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)) != nil
    }

    /// Resident bytes of another process (a `poolwarden serve` a test started); 0 once it is gone.
    static func resident(of pid: pid_t) -> Int { field("VmRSS", process: "\(pid)") }

    private static func field(_ name: String, process: String = "self") -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(process)/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            let kilobytes = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) }
            return (kilobytes ?? 0) * 1024
        }
        return 0
    }
}
