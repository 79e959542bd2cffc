import Testing
@testable import PoolCore

@Suite struct LifetimeAndIdleTests {
    @Test func anIdleConnectionPastItsLifetimeIsClosedAndReplaced() throws {
        var h = Harness()
        var configuration = PoolConfiguration.test(min: 1, max: 2)
        configuration.maxLifetime = .seconds(600)
        configuration.maxLifetimeJitter = .zero
        let (_, start) = h.addPool(configuration)
        let opened = h.openAll(start)
        let id = try #require(start.opens.first)
        #expect(opened.scheduled.contains(PoolTimer(kind: .maxLifetime(id), delay: .seconds(600))))

        let expired = h.advance(by: .seconds(600))
        #expect(expired.closes.map(\.0) == [id])
        #expect(expired.closes.map(\.1) == [.maxLifetime])
        #expect(expired.opens.count == 1, "replaced up to min")
    }

    @Test func aLeasedConnectionPastItsLifetimeClosesWhenReleased() throws {
        var h = Harness()
        var configuration = PoolConfiguration.test(min: 0, max: 2)
        configuration.leaseTTL = .seconds(3600)
        configuration.maxLifetime = .seconds(600)
        configuration.maxLifetimeJitter = .zero
        let (pool, _) = h.addPool(configuration)
        let (_, actions) = h.borrow(pool)
        h.openAll(actions)
        let lease = try #require(h.status(pool).connections.first?.lease)
        let id = try #require(h.status(pool).connections.first?.id)

        #expect(h.advance(by: .seconds(601)).closes.isEmpty, "a lease is not cut")
        let released = h.record(h.group.release(lease, .clean, now: h.now))
        #expect(released.closes.map(\.0) == [id])
        #expect(released.closes.map(\.1) == [.maxLifetime])
    }

    @Test func lifetimesAreJittered() {
        var h = Harness(seed: 42)
        var configuration = PoolConfiguration.test(min: 20, max: 20)
        configuration.maxLifetime = .seconds(1000)
        configuration.maxLifetimeJitter = .seconds(100)
        let (_, start) = h.addPool(configuration)
        let opened = h.openAll(start)
        let lifetimes = opened.scheduled.compactMap { timer -> Duration? in
            if case .maxLifetime = timer.kind { return timer.delay } else { return nil }
        }
        #expect(lifetimes.count == 20)
        #expect(lifetimes.allSatisfy { $0 >= .seconds(900) && $0 <= .seconds(1000) })
        #expect(Set(lifetimes).count > 15, "connections opened together do not expire together")
    }

    @Test func idleConnectionsAboveMinCloseAfterTheIdleTimeout() {
        var h = Harness()
        var configuration = PoolConfiguration.test(min: 1, max: 3)
        configuration.leaseTTL = .seconds(3600)
        configuration.idleTimeout = .seconds(300)
        let pool = h.addOpenPool(configuration)
        let grants = (0..<3).map { _ -> LeaseGrant in
            let (_, actions) = h.borrow(pool)
            h.openAll(actions)
            return h.group.status(pool)!.connections.compactMap { row in
                row.lease.map { LeaseGrant(request: 0, pool: pool, lease: $0, connectionID: row.id, expiresIn: .zero, reused: false) }
            }.last!
        }
        #expect(h.status(pool).counts.open == 3)
        h.advance(by: .seconds(100))
        for grant in grants { h.release(grant) }

        #expect(h.advance(by: .seconds(299)).closes.isEmpty)
        let closed = h.advance(by: .seconds(1))
        #expect(closed.closes.count == 2)
        #expect(closed.closes.allSatisfy { $0.1 == .idleTimeout })
        h.closeAll(closed)
        #expect(h.status(pool).counts.open == 1, "never below min")
        #expect(h.advance(by: .seconds(3600)).closes.isEmpty)
    }

    @Test func useResetsTheIdleClock() {
        var h = Harness()
        var configuration = PoolConfiguration.test(min: 0, max: 1)
        configuration.idleTimeout = .seconds(300)
        let (pool, _) = h.addPool(configuration)
        let (_, actions) = h.borrow(pool)
        h.openAll(actions)
        let lease = h.status(pool).connections[0].lease!
        h.record(h.group.release(lease, .clean, now: h.now))
        h.advance(by: .seconds(200))
        h.release(h.lease(pool))
        #expect(h.advance(by: .seconds(299)).closes.isEmpty)
        #expect(h.advance(by: .seconds(1)).closes.count == 1)
    }
}
