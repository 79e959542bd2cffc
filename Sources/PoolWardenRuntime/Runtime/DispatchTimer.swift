import Dispatch

/// One dispatch timer source on a serial queue of its own (dispatch's overcommit pool, which
/// grows a thread rather than wait for a busy one), re-armed to whatever instant is due next.
final class DispatchTimer: @unchecked Sendable {
    // Safety: a dispatch source may be scheduled and cancelled from any thread.
    private let source: any DispatchSourceTimer

    init(label: String) {
        source = DispatchSource.makeTimerSource(queue: DispatchQueue(label: label))
        source.activate()
    }

    /// What runs each time the timer fires.
    func onFire(_ handler: @escaping @Sendable () -> Void) {
        source.setEventHandler(handler: handler)
    }

    deinit { source.cancel() }

    /// Fires the handler once, `delay` from now (rounded up to the microsecond, so never early),
    /// replacing whatever was armed.
    func fire(after delay: Duration) {
        source.schedule(deadline: .now() + Self.interval(delay), leeway: .nanoseconds(0))
    }

    private static func interval(_ delay: Duration) -> DispatchTimeInterval {
        let (seconds, attoseconds) = delay.components
        guard seconds >= 0 else { return .microseconds(0) }
        guard seconds < Int64(Int32.max) else { return .never }
        return .microseconds(Int(seconds) * 1_000_000 + Int((attoseconds + 999_999_999_999) / 1_000_000_000_000))
    }
}
