@testable import PoolCore

extension PoolConfiguration {
    /// A configuration with every timer-driven rule off unless a test turns it on.
    static func test(min: Int = 0, max: Int = 2, perCaller: Int = 100, maxWaiting: Int? = nil) -> PoolConfiguration {
        PoolConfiguration(
            limits: PoolLimits(min: min, max: max, maxPerCaller: perCaller, maxWaiting: maxWaiting),
            leaseTTL: .seconds(60),
            borrowTimeout: .seconds(5),
            maxLifetime: nil,
            idleTimeout: nil,
            healthCheckAfter: nil,
            connectRetry: ConnectRetry(attempts: 3, baseDelay: .milliseconds(100), maxDelay: .seconds(1))
        )
    }
}
