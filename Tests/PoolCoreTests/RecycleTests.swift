import Testing
@testable import PoolCore

@Suite struct RecycleTests {
    @Test func gracefulClosesIdleNowAndLeasedAtRelease() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 3, max: 4))
        let held = h.lease(pool)
        let (counts, actions) = h.group.recycle(pool, mode: .graceful, now: h.now)
        let recorded = h.record(actions)
        #expect(counts == RecycleCounts(closed: 2, deferred: 1, revoked: 0))
        #expect(recorded.closes.count == 2 && recorded.closes.allSatisfy { $0.1 == .recycled })
        #expect(recorded.revokes.isEmpty)
        #expect(recorded.opens.count == 1, "replacement up to min while the closes finish")
        h.openAll(recorded)
        h.openAll(h.closeAll(recorded))
        #expect(h.status(pool).generation == 1)

        let released = h.release(held)
        #expect(released.closes.map(\.0) == [held.connectionID])
        #expect(released.closes.map(\.1) == [.recycled])
        h.openAll(released)
        h.openAll(h.closeAll(released))
        let status = h.status(pool)
        #expect(status.totals.recycled == 3)
        #expect(status.counts.open == 3)
        #expect(status.connections.allSatisfy { $0.generation == 1 }, "every connection is of the new generation")
    }

    @Test func immediateRevokesLeasesAndClosesTheirConnections() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 2, max: 2))
        let held = h.lease(pool)
        let (counts, actions) = h.group.recycle(pool, mode: .immediate, now: h.now)
        let recorded = h.record(actions)
        #expect(counts == RecycleCounts(closed: 1, deferred: 0, revoked: 1))
        #expect(recorded.revokes.map(\.0) == [held.lease])
        #expect(recorded.revokes.map(\.1) == [.recycled])
        #expect(recorded.resets.isEmpty, "closing rolls the transaction back; nothing is reused")
        #expect(Set(recorded.closes.map(\.0)).contains(held.connectionID))
        #expect(h.group.lease(held.lease) == nil)
        #expect(h.release(held).isEmpty)
        #expect(h.status(pool).totals.revoked == 1)
    }

    @Test func olderThanSparesYoungConnections() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 1, max: 3))
        h.advance(by: .seconds(600))
        _ = h.record(h.group.resize(pool, limits: PoolLimits(min: 2, max: 3, maxPerCaller: 100), now: h.now))
        h.openAll(h.record(h.group.resize(pool, limits: PoolLimits(min: 3, max: 3, maxPerCaller: 100), now: h.now)))
        let before = h.status(pool).connections
        #expect(before.count >= 2)
        let old = before.filter { $0.createdAt == MockInstant() }.map(\.id)
        #expect(old.count == 1)

        let (counts, actions) = h.group.recycle(pool, mode: .graceful, olderThan: .seconds(300), now: h.now)
        #expect(counts.closed == 1)
        #expect(Array(actions).closes.map(\.0) == old)
    }

    @Test func aConnectionBeingOpenedDuringARecycleIsRetiredWhenItOpens() throws {
        var h = Harness()
        let (pool, start) = h.addPool(.test(min: 1, max: 2))
        let id = try #require(start.opens.first)
        let (counts, _) = h.group.recycle(pool, mode: .graceful, now: h.now)
        #expect(counts.deferred == 1)
        let opened = h.opened(id)
        #expect(opened.closes.map(\.1) == [.recycled])
    }
}
