import Testing
@testable import PoolCore

@Suite struct CallerQuotaTests {
    @Test func aCallerAtItsQuotaFailsAtOnceInsteadOfWaiting() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 4, max: 4, perCaller: 2))
        _ = h.lease(pool, caller: "cron")
        _ = h.lease(pool, caller: "cron")
        let (request, actions) = h.borrow(pool, caller: "cron")
        #expect(actions.failure(of: request) == .callerQuota)
        #expect(actions.count == 1, "no wait, no timer, no connect")
        #expect(h.status(pool).counts.waiting == 0)
        #expect(h.status(pool).totals.quotaRejections == 1)
        // Another caller is not affected.
        #expect(h.borrow(pool, caller: "web").actions.grants.count == 1)
    }

    @Test func waitingBorrowsCountAgainstTheQuota() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 1, max: 1, perCaller: 2))
        _ = h.lease(pool, caller: "web")
        let first = h.borrow(pool, caller: "cron")
        #expect(first.actions.grants.isEmpty)
        let second = h.borrow(pool, caller: "cron")
        #expect(second.actions.grants.isEmpty && second.actions.failures.isEmpty)
        let third = h.borrow(pool, caller: "cron")
        #expect(third.actions.failure(of: third.request) == .callerQuota)
    }

    @Test func aQuotaShrinkCutsNoLeaseButStopsNewOnes() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 3, max: 3, perCaller: 3))
        let held = (0..<2).map { _ in h.lease(pool, caller: "cron") }
        _ = h.lease(pool, caller: "web")
        let overQuota = h.borrow(pool, caller: "cron").request
        let fresh = h.borrow(pool, caller: "batch").request

        let resized = h.record(h.group.resize(pool, limits: PoolLimits(min: 3, max: 3, maxPerCaller: 1), now: h.now))
        #expect(resized.revokes.isEmpty && resized.closes.isEmpty, "no lease is cut")
        #expect(h.status(pool).counts.leased == 3)
        // A waiting borrow that would take its caller over the new quota is refused, not left waiting.
        #expect(resized.failure(of: overQuota) == .callerQuota)
        #expect(resized.failure(of: fresh) == nil)

        let again = h.borrow(pool, caller: "cron")
        #expect(again.actions.failure(of: again.request) == .callerQuota)
        #expect(h.release(held[0]).grants.map(\.request) == [fresh])
        #expect(h.violations().isEmpty)
    }
}
