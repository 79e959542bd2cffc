import Testing
@testable import PoolCore

@Suite struct ReleaseTests {
    @Test func aCleanConnectionGoesBackIdle() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 1, max: 1))
        let grant = h.lease(pool)
        #expect(h.release(grant).isEmpty)
        #expect(h.status(pool).counts.idle == 1)
        #expect(h.release(grant).isEmpty, "a second release of the same lease does nothing")
        #expect(h.group.lease(grant.lease) == nil)
    }

    @Test func aConnectionInATransactionIsResetBeforeAnyoneElseGetsIt() throws {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 1, max: 1))
        let grant = h.lease(pool)
        let waiter = h.borrow(pool).request

        let released = h.release(grant, .needsReset)
        #expect(released == [.reset(grant.connectionID)])
        #expect(released.grants.isEmpty, "not handed out before the rollback")
        #expect(h.status(pool).counts.resetting == 1)

        let reset = h.record(h.group.resetSucceeded(grant.connectionID, now: h.now))
        let next = try #require(reset.grant(of: waiter))
        #expect(next.connectionID == grant.connectionID)
    }

    @Test func aConnectionThatCannotBeResetIsClosedAndNeverReused() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 1, max: 2))
        let grant = h.lease(pool)
        h.release(grant, .needsReset)
        let failed = h.record(h.group.resetFailed(grant.connectionID, now: h.now))
        #expect(failed.closes.map(\.0) == [grant.connectionID])
        #expect(failed.closes.map(\.1) == [.resetFailed])
        // The replacement for min waits for the close only if the pool is full; here it opens now.
        #expect(failed.opens.count == 1)
        h.openAll(failed)
        h.closeAll(failed)

        for _ in 0..<5 {
            let again = h.lease(pool)
            #expect(again.connectionID != grant.connectionID)
            h.release(again)
        }
        #expect(h.violations().isEmpty)
    }

    @Test func aBrokenConnectionIsClosedAndReplacedUpToMin() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 2, max: 2))
        let grant = h.lease(pool)
        let released = h.release(grant, .broken)
        #expect(released.closes.map(\.1) == [.broken])
        #expect(released.opens.isEmpty, "the pool is full until the close completes")
        let closed = h.closed(grant.connectionID)
        #expect(closed.opens.count == 1)
        h.openAll(closed)
        #expect(h.status(pool).counts.idle == 2)
        #expect(h.status(pool).totals.closed == 1)
    }

    @Test func aBrokenConnectionAboveMinIsNotReplaced() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 0, max: 2))
        let (_, actions) = h.borrow(pool)
        h.openAll(actions)
        let grant = try! #require(h.status(pool).connections.first.flatMap { row in row.lease.map { ($0, row.id) } })
        let released = h.record(h.group.release(grant.0, .broken, now: h.now))
        h.closeAll(released)
        #expect(h.status(pool).counts.open == 0)
        #expect(h.status(pool).counts.opening == 0)
    }
}
