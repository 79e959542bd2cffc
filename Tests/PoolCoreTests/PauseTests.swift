import Testing
@testable import PoolCore

@Suite struct PauseTests {
    @Test func pausedBorrowsWaitWhileLeasesGoOn() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 2, max: 2))
        let held = h.lease(pool)
        h.record(h.group.pause(pool, now: h.now))
        #expect(h.status(pool).state == .paused)

        let first = h.borrow(pool).request
        let second = h.borrow(pool).request
        #expect(h.status(pool).counts.waiting == 2, "they wait even though a connection is idle")
        #expect(h.group.leaseTouched(held.lease, running: true, now: h.now) != nil, "the lease goes on")
        #expect(h.release(held).grants.isEmpty)
        #expect(h.status(pool).counts.idle == 2)

        let resumed = h.record(h.group.resume(pool, now: h.now))
        #expect(resumed.grants.map(\.request) == [first, second])
        #expect(h.status(pool).state == .running)
    }

    @Test func pausedWaitersTimeOutAsPausedNotExhausted() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 1, max: 1))
        h.record(h.group.pause(pool, now: h.now))
        let (request, _) = h.borrow(pool, wait: .seconds(3))
        #expect(h.advance(by: .milliseconds(2999)).failures.isEmpty, "the deadline holds")
        #expect(h.advance(by: .milliseconds(1)).failure(of: request) == .paused, "a connection is idle: the pause held it back")
        #expect(h.status(pool).totals.timeouts == 1)
        let (now, actions) = h.borrow(pool, wait: .zero)
        #expect(actions.failure(of: now) == .paused)
        // Even a caller at its quota is told about the pause, the cause nobody could get past.
        h.record(h.group.resume(pool, now: h.now))
        _ = h.lease(pool, caller: "cron")
        h.record(h.group.pause(pool, now: h.now))
        let (quota, quotaActions) = h.borrow(pool, caller: "cron", wait: .zero)
        #expect(quotaActions.failure(of: quota) == .paused)
        #expect(h.record(h.group.resume(pool, now: h.now)).grants.isEmpty)
        #expect(h.violations().isEmpty)
    }
}
