import Dispatch

/// Waits and time limits on a dispatch timer instead of `Task.sleep`.
///
/// A sleeping task is woken through Swift's global executor, even when it prefers another one; with
/// every thread of that executor held (a loaded machine, a careless embedding app), a release's wait
/// for its cancelled statement took 8.5 s instead of milliseconds (GlobalExecutorStarvationTests).
/// These timers fire on a serial queue of dispatch's overcommit pool, which grows a thread rather
/// than wait for a busy one, and resume the waiting task on its own executor.
public enum DispatchDelay {
    private static let queue = DispatchQueue(label: "poolwarden.delay")

    /// A scheduled `after`, which `cancel()` stops if it has not run yet.
    public final class Scheduled: @unchecked Sendable {
        // Safety: DispatchWorkItem's cancel may be called from any thread.
        private let item: DispatchWorkItem

        fileprivate init(_ item: DispatchWorkItem) { self.item = item }

        public func cancel() { item.cancel() }
    }

    /// Runs `work` once `delay` has passed, unless it is cancelled first.
    @discardableResult
    public static func after(_ delay: Duration, _ work: @escaping @Sendable () -> Void) -> Scheduled {
        let item = DispatchWorkItem(block: work)
        queue.asyncAfter(deadline: .now() + delay.dispatchInterval, execute: item)
        return Scheduled(item)
    }

    /// Suspends the calling task for `delay` (not cut short by cancellation: for short waits).
    public static func sleep(for delay: Duration) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            after(delay) { continuation.resume() }
        }
    }
}

extension Duration {
    /// The duration for a dispatch deadline, rounded up to the microsecond so that a timer never
    /// fires early; `.never` past what dispatch can hold.
    public var dispatchInterval: DispatchTimeInterval {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return .microseconds(0) }
        guard seconds < Int64(Int32.max) else { return .never }
        return .microseconds(Int(seconds) * 1_000_000 + Int((attoseconds + 999_999_999_999) / 1_000_000_000_000))
    }
}
