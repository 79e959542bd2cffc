/// How opening a server connection is retried: `connect_retry: {attempts, base_delay, max_delay}`.
///
/// Delays grow exponentially and use full jitter (a uniform draw between zero and the exponential
/// ceiling), so many pools reconnecting after a database restart spread out instead of stampeding.
public struct ConnectRetry: Hashable, Sendable {
    /// Connect attempts for one connection before the pool gives up and turns degraded.
    public var attempts: Int
    /// Ceiling of the first retry delay.
    public var baseDelay: Duration
    /// Largest ceiling any retry delay may have.
    public var maxDelay: Duration

    public init(attempts: Int = 5, baseDelay: Duration = .milliseconds(200), maxDelay: Duration = .seconds(5)) {
        self.attempts = attempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// The exponential ceiling after `failedAttempts` failures: `min(maxDelay, baseDelay * 2^(n-1))`.
    public func ceiling(afterFailedAttempts failedAttempts: Int) -> Duration {
        let cap = self.maxDelay.clampedNanoseconds
        var ceiling = Swift.min(self.baseDelay.clampedNanoseconds, cap)
        var doublings = Swift.max(0, failedAttempts - 1)
        while doublings > 0, ceiling < cap {
            ceiling = ceiling > cap / 2 ? cap : ceiling * 2
            doublings -= 1
        }
        return .nanoseconds(ceiling)
    }

    /// A full-jitter delay after `failedAttempts` failures: uniform in `0...ceiling`.
    public func delay(afterFailedAttempts failedAttempts: Int, using random: inout some RandomNumberGenerator) -> Duration {
        let ceiling = self.ceiling(afterFailedAttempts: failedAttempts).clampedNanoseconds
        return .nanoseconds(Int64.random(in: 0...ceiling, using: &random))
    }
}
