import Testing
@testable import PoolCore

/// The events the cluster's global slots add to the core: a connect deferred for want of a slot,
/// connections retired when their slots are lost, connections shed for another replica.
@Suite struct GlobalSlotTests {
    @Test func deferredConnectKeepsTheBorrowWaitingAndRetriesOnTheTimer() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 0, max: 2))
        let (request, actions) = h.borrow(pool, wait: .seconds(5))
        let first = try! #require(actions.opens.first)
        let deferred = h.record(h.group.connectDeferred(first, now: h.now))
        #expect(deferred.opens.isEmpty, "no connect starts at once: the slots are held elsewhere")
        #expect(deferred.failures.isEmpty, "not a failure: the borrow keeps waiting")
        #expect(h.status(pool).state != .degraded)
        #expect(h.status(pool).counts.open == 0, "the deferred connect counts nowhere")
        #expect(h.timers[.slotRetry(pool)] != nil)
        // A second borrow does not start a connect either while the pool waits for a slot.
        let (_, second) = h.borrow(pool, wait: .seconds(5))
        #expect(second.opens.isEmpty)
        let retried = h.advance(by: GlobalSlotTests.retry)
        #expect(retried.opens.count == 2, "the retry opens for both waiters")
        h.openAll(retried)
        #expect(h.status(pool).counts.leased == 2)
        #expect(h.violations().isEmpty)
        _ = request
    }

    @Test func aLocalCloseEndsTheWaitForASlot() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 1, max: 2))
        let held = h.lease(pool)
        let (_, actions) = h.borrow(pool, wait: .seconds(5))
        let opening = try! #require(actions.opens.first)
        _ = h.record(h.group.connectDeferred(opening, now: h.now))
        let closing = h.release(held, .broken)
        #expect(closing.closes.map(\.0) == [held.connectionID])
        let after = h.closed(held.connectionID)
        #expect(!after.opens.isEmpty, "its slot is free again: the waiter's connect starts without waiting for the timer")
    }

    @Test func retireClosesIdleRevokesLeasedAndMarksTheRest() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 2, max: 3))
        let held = h.lease(pool)
        let idle = h.status(pool).connections.filter { $0.id != held.connectionID }.map(\.id)
        #expect(idle.count == 1)
        let retired = h.record(h.group.retire([held.connectionID] + idle, now: h.now))
        #expect(Set(retired.closes.map(\.0)) == Set([held.connectionID] + idle))
        #expect(retired.closes.allSatisfy { $0.1 == .slotLost })
        #expect(retired.revokes.map(\.0) == [held.lease])
        #expect(retired.revokes.map(\.1) == [.slotLost])
        #expect(h.release(held).isEmpty, "the token is gone")
        #expect(h.violations().isEmpty)
    }

    @Test func shedClosesIdleFirstAndNeverCutsALease() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 3, max: 3))
        let held = h.lease(pool)
        let all = h.status(pool).connections.map(\.id)
        let shed = h.record(h.group.shed(all, count: 3, now: h.now))
        #expect(shed.closes.count == 2 && shed.closes.allSatisfy { $0.1 == .rebalanced }, "both idle ones close now")
        #expect(shed.revokes.isEmpty, "the lease goes on")
        // Asking again counts what is already on its way out.
        #expect(h.record(h.group.shed(all, count: 3, now: h.now)).closes.isEmpty)
        let released = h.release(held)
        #expect(released.closes.map(\.0) == [held.connectionID], "the leased one closes when it comes back")
        #expect(released.closes.map(\.1) == [.rebalanced])
        #expect(h.violations().isEmpty)
    }

    static let retry = Duration.milliseconds(50)
}
