import Testing
@testable import PoolCore

@Suite struct DeleteAndShutdownTests {
    @Test func deletingWaitsForLeasesThenReportsThePoolClosed() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 2, max: 2))
        let held = h.lease(pool)
        _ = h.lease(pool)
        let waiting = h.borrow(pool).request
        let waiter = h.borrow(pool).request

        let deleted = h.record(h.group.deletePool(pool, revokeLeases: false, now: h.now))
        #expect(deleted.failure(of: waiting) == .poolDraining)
        #expect(deleted.failure(of: waiter) == .poolDraining)
        #expect(deleted.revokes.isEmpty)
        #expect(h.status(pool).state == .draining)
        let refused = h.borrow(pool)
        #expect(refused.actions.failure(of: refused.request) == .poolDraining)

        let released = h.release(held, .needsReset)
        #expect(released.closes.map(\.1) == [.deleted], "closed, not reset: closing rolls back")
        h.closeAll(released)
        #expect(!h.group.poolIDs.isEmpty)
        let other = h.status(pool).connections.compactMap(\.lease).first!
        let last = h.record(h.group.release(other, .clean, now: h.now))
        let finished = h.closeAll(last)
        #expect(finished == [.poolClosed(pool)])
        #expect(h.group.status(pool) == nil)
        #expect(h.group.poolIDs.isEmpty)
        #expect(h.violations().isEmpty)
    }

    @Test func deletingWithRevokeClosesEverythingNow() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 3, max: 3))
        let held = h.lease(pool)
        let deleted = h.record(h.group.deletePool(pool, revokeLeases: true, now: h.now))
        #expect(deleted.revokes.map(\.0) == [held.lease])
        #expect(deleted.closes.count == 3)
        let finished = h.closeAll(deleted)
        #expect(finished == [.poolClosed(pool)])
    }

    @Test func shutdownLeavesNoConnectionBehind() throws {
        var h = Harness()
        let server = h.group.addServer(maxConnections: 10)
        let a = h.addOpenPool(.test(min: 2, max: 4), server: server)
        let (b, bStart) = h.addPool(.test(min: 1, max: 2))
        let opening = try #require(bStart.opens.first)
        let held = h.lease(a)
        let (waiting, _) = h.borrow(b)

        let shutdown = h.record(h.group.shutdown(now: h.now))
        #expect(shutdown.failure(of: waiting) == .shutdown)
        #expect(shutdown.revokes.map(\.0) == [held.lease])
        #expect(shutdown.revokes.map(\.1) == [.shutdown])
        #expect(!shutdown.contains(.shutdownComplete), "connections are still open")
        let refused = h.borrow(a)
        #expect(refused.actions.failure(of: refused.request) == .shutdown)
        #expect(throws: PoolGroupError.shutDown) { try h.group.addPool(.test(), now: h.now) }

        var tail = h.closeAll(shutdown)
        #expect(!tail.contains(.shutdownComplete), "one connect is still in flight")
        let opened = h.opened(opening)
        #expect(opened.closes.map(\.1) == [.shutdown])
        tail = h.closeAll(opened)
        #expect(tail.contains(.poolClosed(b)))
        #expect(tail.last == .shutdownComplete)
        #expect(h.group.isShutDown)
        #expect(h.group.poolIDs.isEmpty)
        #expect(h.group.serverUsage(server)?.used == 0)
        #expect(h.violations().isEmpty)
    }

    @Test func shutdownOfAnIdleGroupCompletesAtOnce() {
        var h = Harness()
        #expect(Array(h.group.shutdown(now: h.now)) == [.shutdownComplete])
        #expect(h.group.shutdown(now: h.now).isEmpty)
    }

    @Test func aConnectThatFailsDuringShutdownIsDropped() throws {
        var h = Harness()
        let (pool, start) = h.addPool(.test(min: 1, max: 1))
        let id = try #require(start.opens.first)
        h.record(h.group.shutdown(now: h.now))
        let failed = h.connectFailed(id)
        #expect(failed == [.poolClosed(pool), .shutdownComplete])
    }
}
