import Testing
@testable import PoolCore

@Suite struct BorrowTests {
    @Test func idleConnectionIsLeasedAtOnce() throws {
        var h = Harness()
        let (pool, start) = h.addPool(.test(min: 2, max: 2))
        #expect(start.opens.count == 2)
        h.openAll(start)
        #expect(h.status(pool).counts.idle == 2)

        let (request, actions) = h.borrow(pool)
        let grant = try #require(actions.grant(of: request))
        #expect(grant.pool == pool)
        #expect(grant.expiresIn == .seconds(60))
        #expect(!grant.reused)
        #expect(h.group.connection(grant.connectionID) == Int(grant.connectionID.serial))
        #expect(h.status(pool).counts.leased == 1)
        #expect(h.status(pool).counts.idle == 1)
        #expect(h.violations().isEmpty)
    }

    @Test func connectionsOpenOnDemandUpToMax() {
        var h = Harness()
        let (pool, start) = h.addPool(.test(min: 0, max: 3))
        #expect(start.isEmpty)

        var opens: [ConnectionID] = []
        var requests: [UInt64] = []
        for _ in 0..<10 {
            let (request, actions) = h.borrow(pool)
            #expect(actions.grants.isEmpty)
            opens += actions.opens
            requests.append(request)
            let counts = h.status(pool).counts
            #expect(counts.open + counts.opening <= 3)
        }
        #expect(opens.count == 3, "never more than max connections, counting ones being opened")
        #expect(h.status(pool).counts.waiting == 10)

        var served: [UInt64] = []
        for id in opens {
            served += h.opened(id).grants.map(\.request)
        }
        #expect(served == Array(requests.prefix(3)))
        #expect(h.status(pool).counts.waiting == 7)
        #expect(h.violations().isEmpty)
    }

    @Test func waitersAreServedFirstComeFirstServed() throws {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 1, max: 1))
        var holder = h.lease(pool)
        let waiting = (0..<4).map { _ in h.borrow(pool).request }
        #expect(h.status(pool).counts.waiting == 4)

        var order: [UInt64] = []
        for _ in waiting {
            let actions = h.release(holder)
            let grant = try #require(actions.grants.first)
            order.append(grant.request)
            #expect(grant.connectionID == holder.connectionID)
            holder = grant
        }
        #expect(order == waiting)
    }

    @Test func aWaiterPastItsDeadlineFailsWithTimeout() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 1, max: 1))
        let holder = h.lease(pool)
        let (request, actions) = h.borrow(pool, wait: .seconds(2))
        #expect(actions.scheduled.map(\.kind) == [.borrowDeadline(pool, request: request)])

        #expect(h.advance(by: .milliseconds(1999)).isEmpty)
        let timedOut = h.advance(by: .milliseconds(1))
        #expect(timedOut.failure(of: request) == .timeout)
        #expect(h.status(pool).totals.timeouts == 1)
        #expect(h.status(pool).counts.waiting == 0)

        // The connection it would have got goes back to idle, not to the gone waiter.
        #expect(h.release(holder).grants.isEmpty)
        #expect(h.status(pool).counts.idle == 1)
    }

    @Test func aCancelledWaiterLeavesWithoutTakingTheConnection() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 1, max: 1))
        let holder = h.lease(pool)
        let (request, _) = h.borrow(pool)
        let later = h.borrow(pool).request

        let cancelled = h.cancel(request, pool: pool)
        #expect(cancelled.failure(of: request) == .cancelled)
        #expect(cancelled.contains(.cancel(.borrowDeadline(pool, request: request))))
        #expect(h.cancel(request, pool: pool).isEmpty, "a second cancel is a no-op")

        let released = h.release(holder)
        #expect(released.grants.map(\.request) == [later])
        #expect(h.status(pool).totals.cancelled == 1)
        #expect(h.violations().isEmpty)
    }

    @Test func aConnectionOpenedForACancelledWaiterGoesIdle() throws {
        var h = Harness()
        let (pool, _) = h.addPool(.test(min: 0, max: 2))
        let (request, actions) = h.borrow(pool)
        let opening = try #require(actions.opens.first)
        h.cancel(request, pool: pool)

        let opened = h.opened(opening)
        #expect(opened.grants.isEmpty)
        let counts = h.status(pool).counts
        #expect(counts.idle == 1 && counts.leased == 0 && counts.waiting == 0)
        #expect(h.lease(pool).connectionID == opening)
    }

    @Test func aZeroWaitBorrowFailsAtOnceWhenNothingIsIdle() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 1, max: 1))
        _ = h.lease(pool)
        let (request, actions) = h.borrow(pool, wait: .zero)
        #expect(actions.failure(of: request) == .timeout)
        #expect(h.status(pool).counts.waiting == 0)
    }

    @Test func aWaiterFoundPastItsDeadlineIsNotServedLate() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 1, max: 1))
        let holder = h.lease(pool)
        let (late, _) = h.borrow(pool, wait: .seconds(1))
        let (onTime, _) = h.borrow(pool, wait: .seconds(10))
        // The clock moves without the deadline timer having run yet (a late timer).
        h.now = h.now.advanced(by: .seconds(2))
        let released = h.release(holder)
        #expect(released.failure(of: late) == .timeout)
        #expect(released.grants.map(\.request) == [onTime])
    }

    @Test func unknownAndStalePoolsAreRefused() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 0, max: 1))
        h.closeAll(h.record(h.group.deletePool(pool, revokeLeases: true, now: h.now)))
        let (request, actions) = h.borrow(pool)
        #expect(actions.failure(of: request) == .poolNotFound)
    }

    @Test func aDuplicateRequestIdIsRefused() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 1, max: 1))
        _ = h.lease(pool)
        let (request, _) = h.borrow(pool)
        let (_, again) = h.borrow(pool, request: request)
        #expect(again.failure(of: request) == .duplicateRequest)
        #expect(h.status(pool).counts.waiting == 1)
    }
}
