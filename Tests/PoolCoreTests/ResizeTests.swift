import Testing
@testable import PoolCore

@Suite struct ResizeTests {
    @Test func growingMaxWakesWaiters() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 1, max: 1))
        _ = h.lease(pool)
        let waiting = (0..<3).map { _ in h.borrow(pool).request }
        let grown = h.record(h.group.resize(pool, limits: PoolLimits(min: 1, max: 3, maxPerCaller: 100), now: h.now))
        #expect(grown.opens.count == 2)
        let served = h.openAll(grown)
        #expect(served.grants.map(\.request) == Array(waiting.prefix(2)))
    }

    @Test func growingMinOpensUpToMin() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 1, max: 5))
        let grown = h.record(h.group.resize(pool, limits: PoolLimits(min: 4, max: 5, maxPerCaller: 100), now: h.now))
        #expect(grown.opens.count == 3)
        h.openAll(grown)
        #expect(h.status(pool).counts.idle == 4)
        #expect(h.status(pool).limits.min == 4)
    }

    @Test func shrinkingClosesSurplusIdleNowAndSurplusLeasedOnReturnWithoutCuttingLeases() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 6, max: 6))
        let leases = (0..<4).map { _ in h.lease(pool) }
        #expect(h.status(pool).counts.idle == 2)

        let shrunk = h.record(h.group.resize(pool, limits: PoolLimits(min: 1, max: 2, maxPerCaller: 100), now: h.now))
        #expect(shrunk.closes.count == 2)
        #expect(shrunk.closes.allSatisfy { $0.1 == .surplus })
        #expect(shrunk.revokes.isEmpty, "no lease is cut")
        #expect(h.status(pool).counts.leased == 4)
        h.closeAll(shrunk)

        let first = h.release(leases[0])
        let second = h.release(leases[1])
        #expect(first.closes.map(\.1) == [.surplus])
        #expect(second.closes.map(\.1) == [.surplus])
        h.closeAll(first + second)
        #expect(h.release(leases[2]).closes.isEmpty, "down to max: the rest stay")
        h.release(leases[3])
        #expect(h.status(pool).counts.open == 2)
        #expect(h.violations().isEmpty)
    }

    @Test func aConnectionOpenedAfterAShrinkIsClosedAsSurplus() {
        var h = Harness()
        let (pool, _) = h.addPool(.test(min: 0, max: 2))
        let (a, first) = h.borrow(pool)
        let (b, second) = h.borrow(pool)
        let opening = first.opens + second.opens
        #expect(opening.count == 2)
        h.cancel(a, pool: pool)
        h.cancel(b, pool: pool)

        let shrunk = h.record(h.group.resize(pool, limits: PoolLimits(min: 0, max: 1, maxPerCaller: 100), now: h.now))
        #expect(shrunk.closes.isEmpty, "connects in flight are not abandoned")
        #expect(h.opened(opening[0]).closes.map(\.1) == [.surplus])
        #expect(h.opened(opening[1]).closes.isEmpty)
        #expect(h.status(pool).counts.idle == 1)
        #expect(h.violations().isEmpty)
    }
}
