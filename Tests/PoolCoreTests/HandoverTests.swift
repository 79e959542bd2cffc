import Testing
@testable import PoolCore

/// A lease the runtime still prepares (tags) before its borrower gets it: the totals count only
/// what a caller got, so they agree with the tokens callers hold.
@Suite struct HandoverTests {
    @Test func aLeaseRevokedBeforeHandOverIsCountedNeitherAsBorrowNorAsRevoked() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 2, max: 2))
        let pending = h.lease(pool)
        h.group.deferHandover(pending.lease)
        #expect(h.status(pool).totals.borrows == 0)
        let handed = h.lease(pool)
        h.group.deferHandover(handed.lease)
        let first = h.group.handOver(handed.lease)
        let second = h.group.handOver(handed.lease)
        #expect(first && second, "handing over twice counts once")
        #expect(h.status(pool).totals.borrows == 1)

        let (counts, actions) = h.group.recycle(pool, mode: .immediate, now: h.now)
        let recorded = h.record(actions)
        #expect(Set(recorded.revokes.map(\.0)) == [pending.lease, handed.lease], "both end; the runtime hears of each")
        #expect(counts == RecycleCounts(closed: 1, deferred: 0, revoked: 1))
        let totals = h.status(pool).totals
        #expect(totals.revoked == 1)
        #expect(totals.borrows == 1)
        let late = h.group.handOver(pending.lease)
        #expect(!late, "a revoked lease cannot be handed over")
        #expect(h.violations().isEmpty)
    }

    @Test func aLeaseBrokenBeforeHandOverIsNotABorrow() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 1, max: 1))
        let pending = h.lease(pool)
        h.group.deferHandover(pending.lease)
        h.openAll(h.closeAll(h.release(pending, .broken)))
        #expect(h.status(pool).totals.borrows == 0)
        let next = h.lease(pool)
        #expect(h.status(pool).totals.borrows == 1, "a lease never deferred counts at grant: \(next.lease)")
    }

    @Test func aLeaseExpiringAfterHandOverIsCountedExpired() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 1, max: 1))
        let lease = h.lease(pool, ttl: .seconds(1))
        h.group.deferHandover(lease.lease)
        let handed = h.group.handOver(lease.lease)
        #expect(handed)
        let expired = h.advance(by: .seconds(2))
        #expect(expired.revokes.map(\.0) == [lease.lease])
        #expect(h.status(pool).totals.expired == 1)
        #expect(h.status(pool).totals.borrows == 1)
    }
}
