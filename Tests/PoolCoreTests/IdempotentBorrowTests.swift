import Testing
@testable import PoolCore

@Suite struct IdempotentBorrowTests {
    @Test func theSameCallerAndKeyGetTheSameLiveLease() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 2, max: 2))
        let first = h.lease(pool, caller: "cron", key: "nightly")
        let second = h.lease(pool, caller: "cron", key: "nightly")
        #expect(second.lease == first.lease)
        #expect(second.connectionID == first.connectionID)
        #expect(second.reused && !first.reused)
        #expect(h.status(pool).counts.leased == 1, "no second connection")
        #expect(h.status(pool).totals.borrows == 1)
    }

    @Test func keysAreScopedToTheCallerAndToLiveLeases() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 2, max: 2))
        let cron = h.lease(pool, caller: "cron", key: "k")
        let web = h.lease(pool, caller: "web", key: "k")
        #expect(web.lease != cron.lease)

        h.release(cron)
        let again = h.lease(pool, caller: "cron", key: "k")
        #expect(again.lease != cron.lease)
        #expect(!again.reused)
        #expect(h.violations().isEmpty)
    }

    @Test func waitingBorrowsWithTheSameKeyShareTheLeaseTheFirstGets() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 1, max: 1))
        let holder = h.lease(pool, caller: "web")
        let a = h.borrow(pool, caller: "cron", key: "k").request
        let b = h.borrow(pool, caller: "cron", key: "k").request
        let c = h.borrow(pool, caller: "cron", key: "other").request

        let released = h.release(holder)
        let grants = released.grants
        #expect(grants.map(\.request) == [a, b])
        #expect(grants[0].lease == grants[1].lease)
        #expect(grants[1].reused)
        #expect(h.status(pool).counts.waiting == 1, "\(c) still waits for a connection")
        #expect(h.violations().isEmpty)
    }

    @Test func anExpiredKeyedLeaseIsNotHandedOutAgain() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 2, max: 2))
        let first = h.lease(pool, caller: "cron", key: "k", ttl: .seconds(1))
        let expired = h.advance(by: .seconds(1))
        #expect(expired.revokes.map(\.0) == [first.lease])
        let second = h.lease(pool, caller: "cron", key: "k")
        #expect(second.lease != first.lease)
    }
}
