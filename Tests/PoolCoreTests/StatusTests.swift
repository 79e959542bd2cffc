import Testing
@testable import PoolCore

@Suite struct StatusTests {
    @Test func statusShowsCountsTotalsLimitsAndOneRowPerConnection() throws {
        var h = Harness()
        let (pool, start) = h.addPool(.test(min: 2, max: 3, perCaller: 2))
        h.openAll(start)
        h.advance(by: .seconds(5))
        let grant = h.lease(pool, caller: "nightly-report")
        _ = h.borrow(pool, caller: "web")
        _ = h.borrow(pool, caller: "web")

        let status = h.status(pool)
        #expect(status.state == .running)
        #expect(status.limits == PoolLimits(min: 2, max: 3, maxPerCaller: 2))
        #expect(status.counts.open == 2)
        #expect(status.counts.leased == 2)
        #expect(status.counts.idle == 0)
        #expect(status.counts.opening == 1)
        #expect(status.counts.waiting == 1)
        #expect(status.totals.borrows == 2)
        #expect(status.totals.connectAttempts == 3)
        #expect(status.lastError == nil)
        #expect(status.connections.count == 3)
        #expect(status.connections.map(\.id) == status.connections.map(\.id).sorted())

        let row = try #require(status.connections.first { $0.id == grant.connectionID })
        #expect(row.state == .leased)
        #expect(row.caller == "nightly-report")
        #expect(row.lease == grant.lease)
        #expect(row.createdAt == MockInstant())
        #expect(row.lastUsedAt == MockInstant(.seconds(5)))
        #expect(row.leaseExpiresAt == MockInstant(.seconds(65)))
        #expect(row.generation == 0)
        #expect(row.connection == Int(grant.connectionID.serial))
        #expect(status.connections.contains { $0.state == .opening && $0.connection == nil })

        let info = try #require(h.group.lease(grant.lease))
        #expect(info.caller == "nightly-report")
        #expect(info.pool == pool)
        #expect(info.expiresAt == MockInstant(.seconds(65)))
    }

    @Test func pauseAndDrainShowInTheState() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 1, max: 1))
        _ = h.lease(pool)
        h.record(h.group.pause(pool, now: h.now))
        #expect(h.status(pool).state == .paused)
        h.record(h.group.deletePool(pool, revokeLeases: false, now: h.now))
        #expect(h.status(pool).state == .draining)
    }
}
