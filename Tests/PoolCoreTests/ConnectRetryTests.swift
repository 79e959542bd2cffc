import Testing
@testable import PoolCore

@Suite struct ConnectRetryTests {
    @Test func ceilingsGrowExponentiallyUpToTheMaximum() {
        let retry = ConnectRetry(attempts: 8, baseDelay: .milliseconds(100), maxDelay: .seconds(1))
        let ceilings = (1...6).map { retry.ceiling(afterFailedAttempts: $0) }
        #expect(ceilings == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1)])
        #expect(retry.ceiling(afterFailedAttempts: 200) == .seconds(1), "no overflow after many failures")
    }

    @Test func delaysUseFullJitter() {
        let retry = ConnectRetry(attempts: 8, baseDelay: .milliseconds(100), maxDelay: .seconds(1))
        var random = SplitMix64(seed: 7)
        let delays = (0..<200).map { _ in retry.delay(afterFailedAttempts: 4, using: &random) }
        #expect(delays.allSatisfy { $0 >= .zero && $0 <= .milliseconds(800) })
        #expect(delays.contains { $0 < .milliseconds(200) }, "full jitter reaches near zero")
        #expect(delays.contains { $0 > .milliseconds(600) }, "and near the ceiling")
        #expect(Set(delays).count > 150, "delays are spread, not fixed")
    }

    @Test func aFailedConnectIsRetriedAfterItsBackoff() throws {
        var h = Harness()
        let (pool, _) = h.addPool(.test(min: 0, max: 1))
        let (request, actions) = h.borrow(pool, wait: .seconds(30))
        let id = try #require(actions.opens.first)

        let failed = h.connectFailed(id, "timeout expired")
        let backoff = try #require(failed.scheduled.first)
        #expect(backoff.kind == .connectBackoff(id))
        #expect(backoff.delay <= .milliseconds(100))
        #expect(h.status(pool).connections.map(\.state) == [.backoff])
        #expect(h.status(pool).counts.opening == 1, "a retry in waiting still counts against max")

        let retried = h.advance(by: backoff.delay)
        #expect(retried.contains(.open(id, pool: pool, attempt: 2)))
        let second = h.connectFailed(id)
        let secondDelay = try #require(second.scheduled.first?.delay)
        #expect(secondDelay <= .milliseconds(200))
        h.advance(by: secondDelay)
        #expect(h.status(pool).lastError == "connection refused")

        let served = h.opened(id)
        #expect(served.grant(of: request)?.connectionID == id)
        let totals = h.status(pool).totals
        #expect(totals.connectAttempts == 3)
        #expect(totals.connectFailures == 2)
        #expect(h.status(pool).lastError == nil, "a connect that worked clears the last error")
    }

    @Test func aRetryNobodyNeedsAnyMoreIsDropped() throws {
        var h = Harness()
        let (pool, _) = h.addPool(.test(min: 0, max: 1))
        let (request, actions) = h.borrow(pool)
        let id = try #require(actions.opens.first)
        h.connectFailed(id)
        h.cancel(request, pool: pool)
        let fired = h.advance(by: .seconds(1))
        #expect(fired.opens.isEmpty)
        #expect(h.status(pool).connections.isEmpty)
        #expect(h.violations().isEmpty)
    }
}
