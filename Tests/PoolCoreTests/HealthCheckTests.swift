import Testing
@testable import PoolCore

@Suite struct HealthCheckTests {
    func configuration() -> PoolConfiguration {
        var configuration = PoolConfiguration.test(min: 2, max: 3)
        configuration.healthCheckAfter = .seconds(30)
        return configuration
    }

    @Test func aConnectionIdleLongerThanTheThresholdIsCheckedBeforeItIsHandedOut() throws {
        var h = Harness()
        let pool = h.addOpenPool(self.configuration())
        h.advance(by: .seconds(31))
        let (request, actions) = h.borrow(pool)
        #expect(actions.grants.isEmpty)
        let checked = try #require(actions.checks.first)
        #expect(actions.checks.count == 1, "one check per waiter")
        #expect(h.status(pool).counts.checking == 1)

        let passed = h.record(h.group.checkSucceeded(checked, now: h.now))
        #expect(passed.grant(of: request)?.connectionID == checked)
    }

    @Test func aRecentlyUsedConnectionIsNotChecked() {
        var h = Harness()
        let pool = h.addOpenPool(self.configuration())
        h.advance(by: .seconds(29))
        #expect(h.borrow(pool).actions.grants.count == 1)
    }

    @Test func aFailedCheckClosesTheConnectionAndTheBorrowTriesAnother() throws {
        var h = Harness()
        let pool = h.addOpenPool(self.configuration())
        h.advance(by: .seconds(60))
        let (request, actions) = h.borrow(pool)
        let first = try #require(actions.checks.first)

        let failed = h.record(h.group.checkFailed(first, now: h.now))
        #expect(failed.closes.map(\.1) == [.checkFailed])
        let second = try #require(failed.checks.first, "the other idle connection is checked next")
        #expect(second != first)

        let passed = h.record(h.group.checkSucceeded(second, now: h.now))
        #expect(passed.grant(of: request)?.connectionID == second)
        #expect(h.status(pool).totals.healthCheckFailures == 1)
        #expect(h.violations().isEmpty)
    }

    @Test func borrowsArrivingDuringACheckWaitTheirTurn() throws {
        var h = Harness()
        var configuration = self.configuration()
        configuration.limits = PoolLimits(min: 1, max: 1, maxPerCaller: 10)
        let pool = h.addOpenPool(configuration)
        h.advance(by: .seconds(60))
        let first = h.borrow(pool)
        let checked = try #require(first.actions.checks.first)
        let second = h.borrow(pool)
        #expect(second.actions.grants.isEmpty && second.actions.checks.isEmpty)

        let passed = h.record(h.group.checkSucceeded(checked, now: h.now))
        #expect(passed.grants.map(\.request) == [first.request])
    }
}
