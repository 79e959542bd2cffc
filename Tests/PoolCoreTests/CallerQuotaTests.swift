import Testing
@testable import PoolCore

/// `max_per_caller` limits the leases a caller holds; its further borrows wait in the queue
/// without holding up other callers, and `max_waiting` bounds the queue.
@Suite struct CallerQuotaTests {
    @Test func aCallerOverItsQuotaWaitsAndIsServedInOrderAsItReleases() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 4, max: 4, perCaller: 2))
        let held = [h.lease(pool, caller: "cron"), h.lease(pool, caller: "cron")]
        let first = h.borrow(pool, caller: "cron")
        let second = h.borrow(pool, caller: "cron")
        for borrow in [first, second] {
            #expect(borrow.actions.grants.isEmpty && borrow.actions.failures.isEmpty, "it waits, it is not refused")
            #expect(borrow.actions.opens.isEmpty, "no connection is opened for a borrow its caller may not take")
        }
        #expect(h.status(pool).counts.waiting == 2)
        #expect(h.status(pool).counts.idle == 2, "idle connections do not serve a caller at its quota")

        #expect(h.release(held[0]).grants.map(\.request) == [first.request])
        #expect(h.release(held[1]).grants.map(\.request) == [second.request])
        #expect(h.status(pool).counts.waiting == 0 && h.status(pool).counts.leased == 2)
        #expect(h.violations().isEmpty)
    }

    @Test func aCallerAtItsQuotaDoesNotBlockOtherCallersBehindIt() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 3, max: 3, perCaller: 2))
        let crons = [h.lease(pool, caller: "cron"), h.lease(pool, caller: "cron")]
        let cronWaits = h.borrow(pool, caller: "cron").request
        // An idle connection goes to the caller behind at once, past the one at its quota.
        let web = h.borrow(pool, caller: "web")
        #expect(web.actions.grants.map(\.request) == [web.request])

        // With the pool full, a freed connection goes to the first waiter that may take it.
        let webWaits = h.borrow(pool, caller: "web").request
        let batchWaits = h.borrow(pool, caller: "batch").request
        #expect(h.release(web.actions.grants[0]).grants.map(\.request) == [webWaits])
        // The caller at its quota gets the connection it frees, ahead of those behind it.
        #expect(h.release(crons[0]).grants.map(\.request) == [cronWaits])
        #expect(h.status(pool).counts.waiting == 1)
        #expect(h.release(crons[1]).grants.map(\.request) == [batchWaits])
        #expect(h.violations().isEmpty)
    }

    @Test func aRevokedOrExpiredLeaseFreesItsCallersQuotaAtOnce() {
        // Its own connection is being reset first, so an idle one serves the caller's waiting borrow.
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 3, max: 3, perCaller: 1))
        let revoked = h.lease(pool, caller: "cron")
        let expiring = h.lease(pool, caller: "web", ttl: .seconds(2))
        let cronWaits = h.borrow(pool, caller: "cron").request
        let webWaits = h.borrow(pool, caller: "web").request
        #expect(h.status(pool).counts.idle == 1)

        let revoke = h.record(h.group.revoke(revoked.lease, .needsReset, now: h.now))
        #expect(revoke.resets.count == 1)
        #expect(revoke.grants.map(\.request) == [cronWaits])

        let expiry = h.advance(by: .seconds(2))
        #expect(expiry.revokes.map(\.0) == [expiring.lease])
        #expect(expiry.grants.isEmpty, "no idle connection left: the reset one will serve it")
        #expect(h.record(h.group.resetSucceeded(revoke.resets[0], now: h.now)).grants.map(\.request) == [webWaits])
        #expect(h.violations().isEmpty)
    }

    @Test func demandCountsOnlyBorrowsTheirCallerMayTake() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 1, max: 4, perCaller: 1))
        _ = h.lease(pool, caller: "cron")
        let blocked = h.borrow(pool, caller: "cron")
        #expect(blocked.actions.opens.isEmpty && h.status(pool).counts.opening == 0)
        let web = h.borrow(pool, caller: "web")
        #expect(web.actions.opens.count == 1, "one connection for the one borrow that may take it")
        #expect(h.openAll(web.actions).grant(of: web.request) != nil)
        #expect(h.status(pool).counts.waiting == 1 && h.status(pool).counts.idle == 0)
    }

    @Test func aWaitThatEndsAtTheQuotaSaysSo() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 2, max: 2, perCaller: 1))
        _ = h.lease(pool, caller: "cron")
        let (request, _) = h.borrow(pool, caller: "cron", wait: .seconds(2))
        #expect(h.advance(by: .milliseconds(1999)).failures.isEmpty, "it waits its whole wait")
        #expect(h.advance(by: .milliseconds(1)).failure(of: request) == .callerQuota)
        let (atOnce, actions) = h.borrow(pool, caller: "cron", wait: .zero)
        #expect(actions.failure(of: atOnce) == .callerQuota)
        #expect(h.status(pool).totals.timeouts == 2 && h.status(pool).counts.waiting == 0)

        // A caller under its quota on a full pool times out as exhausted.
        _ = h.lease(pool, caller: "web")
        let (full, _) = h.borrow(pool, caller: "batch", wait: .seconds(1))
        #expect(h.advance(by: .seconds(1)).failure(of: full) == .timeout)
        #expect(h.violations().isEmpty)
    }

    @Test func maxWaitingRefusesABorrowThatWouldWaitBeyondIt() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 1, max: 1, maxWaiting: 2))
        let held = h.lease(pool, caller: "web")
        let waiting = [h.borrow(pool, caller: "a").request, h.borrow(pool, caller: "b").request]
        let (refused, actions) = h.borrow(pool, caller: "c")
        #expect(actions.failure(of: refused) == .tooManyWaiting)
        #expect(actions.count == 1, "refused at once: no timer, no connect")
        #expect(h.status(pool).counts.waiting == 2)
        #expect(h.status(pool).totals.waitingRejections == 1)
        // A borrow that may not wait takes no place in the queue: it times out as usual.
        let (noWait, noWaitActions) = h.borrow(pool, caller: "c", wait: .zero)
        #expect(noWaitActions.failure(of: noWait) == .timeout)

        h.cancel(waiting[0], pool: pool)
        let third = h.borrow(pool, caller: "c")
        #expect(third.actions.failures.isEmpty, "there is room again")
        #expect(h.release(held).grants.map(\.request) == [waiting[1]])
        #expect(h.violations().isEmpty)
    }

    @Test func aFullQueueOfCallersAtTheirQuotaDoesNotRefuseABorrowAnIdleConnectionServes() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 2, max: 2, perCaller: 1, maxWaiting: 1))
        _ = h.lease(pool, caller: "cron")
        let blocked = h.borrow(pool, caller: "cron")
        #expect(blocked.actions.failures.isEmpty)
        let web = h.borrow(pool, caller: "web")
        #expect(web.actions.grants.map(\.request) == [web.request])
        #expect(h.violations().isEmpty)
    }

    @Test func maxWaitingDefaultsToTenTimesMax() {
        #expect(PoolLimits(max: 16).maxWaiting == 160)
        #expect(PoolLimits(max: 16, maxWaiting: 3).maxWaiting == 3)
        #expect(PoolLimits(max: Int.max).maxWaiting == Int.max)
        #expect(PoolLimits(max: 4, maxWaiting: -1).problem == "max_waiting must not be negative")
    }

    @Test func aQuotaShrinkCutsNoLeaseAndRefusesNoWaiter() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 3, max: 3, perCaller: 3))
        let held = (0..<2).map { _ in h.lease(pool, caller: "cron") }
        _ = h.lease(pool, caller: "web")
        let overQuota = h.borrow(pool, caller: "cron").request
        let fresh = h.borrow(pool, caller: "batch").request

        let resized = h.record(h.group.resize(pool, limits: PoolLimits(min: 3, max: 3, maxPerCaller: 1), now: h.now))
        #expect(resized.revokes.isEmpty && resized.closes.isEmpty, "no lease is cut")
        #expect(resized.failures.isEmpty, "no waiter is refused")
        #expect(h.status(pool).counts.leased == 3 && h.status(pool).counts.waiting == 2)

        // cron still holds its new quota after one release: the connection goes to the borrow behind.
        #expect(h.release(held[0]).grants.map(\.request) == [fresh])
        #expect(h.release(held[1]).grants.map(\.request) == [overQuota], "under its quota again, it is served")
        #expect(h.status(pool).counts.waiting == 0)
        #expect(h.violations().isEmpty)
    }

    @Test func raisingTheQuotaServesWaitersItHeldBack() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 4, max: 4, perCaller: 2))
        _ = [h.lease(pool, caller: "cron"), h.lease(pool, caller: "cron")]
        let waiting = [h.borrow(pool, caller: "cron").request, h.borrow(pool, caller: "cron").request]
        let resized = h.record(h.group.resize(pool, limits: PoolLimits(min: 4, max: 4, maxPerCaller: 3), now: h.now))
        #expect(resized.grants.map(\.request) == [waiting[0]])
        #expect(h.status(pool).counts.waiting == 1)
        #expect(h.violations().isEmpty)
    }
}
