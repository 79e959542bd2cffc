import Testing
@testable import PoolCore

@Suite struct ServerBudgetTests {
    @Test func aFullServerClosesTheLongestIdleConnectionOfAnotherPoolToMakeRoom() throws {
        var h = Harness()
        let server = h.group.addServer(maxConnections: 4)
        let reports = h.addOpenPool(.test(min: 1, max: 4), server: server)
        // Grow reports to 4 connections, then let them go idle at different times.
        let grants = (0..<4).map { _ -> LeaseGrant in
            let (request, actions) = h.borrow(reports)
            let opened = h.openAll(actions)
            return (actions + opened).grant(of: request)!
        }
        for grant in grants {
            h.advance(by: .seconds(1))
            h.release(grant)
        }
        #expect(h.group.serverUsage(server)?.used == 4)

        let (billing, start) = h.addPool(.test(min: 0, max: 2), server: server)
        #expect(start.isEmpty)
        let (request, actions) = h.borrow(billing)
        let evicted = try #require(actions.closes.first)
        #expect(evicted.0 == grants[0].connectionID, "the longest-idle connection goes")
        #expect(evicted.1 == .evicted)
        #expect(actions.opens.isEmpty, "the server is full until the close completes")
        #expect(h.group.serverUsage(server)?.used == 4)

        let freed = h.closed(evicted.0)
        let opening = try #require(freed.opens.first)
        let served = h.opened(opening)
        #expect(served.grant(of: request) != nil)
        #expect(h.group.serverUsage(server)?.used == 4)
        #expect(h.status(reports).totals.evicted == 1)
        #expect(h.violations().isEmpty)
    }

    @Test func noPoolIsTakenBelowItsMinAndTheBorrowWaitsForRoom() throws {
        var h = Harness()
        let server = h.group.addServer(maxConnections: 3)
        let a = h.addOpenPool(.test(min: 2, max: 3), server: server)
        let b = h.addOpenPool(.test(min: 1, max: 3), server: server)
        #expect(h.group.serverUsage(server)?.used == 3)

        let held = h.lease(b)
        let (request, actions) = h.borrow(b)
        #expect(actions.closes.isEmpty, "pool a is at its min")
        #expect(actions.opens.isEmpty)
        #expect(h.status(b).counts.waiting == 1)

        // A slot frees anywhere on the server: the waiting pool gets it.
        let aLease = h.lease(a)
        let broken = h.release(aLease, .broken)
        #expect(broken.opens.isEmpty, "a's replacement must not take the freed room from b's waiter")
        let freed = h.closed(aLease.connectionID)
        let opening = try #require(freed.opens.first)
        #expect(h.opened(opening).grant(of: request) != nil)
        _ = held
        #expect(h.group.serverUsage(server)!.used <= 3)
        #expect(h.violations().isEmpty)
    }

    @Test func aReleasedConnectionIsClosedForAPoolWaitingForRoom() throws {
        var h = Harness()
        let server = h.group.addServer(maxConnections: 2)
        let a = h.addOpenPool(.test(min: 0, max: 2), server: server)
        let aLeases = (0..<2).map { _ -> LeaseGrant in
            let (request, actions) = h.borrow(a)
            return (actions + h.openAll(actions)).grant(of: request)!
        }
        let (b, _) = h.addPool(.test(min: 0, max: 2), server: server)
        let (request, actions) = h.borrow(b)
        #expect(actions.closes.isEmpty && actions.opens.isEmpty, "nothing idle to evict")

        let released = h.release(aLeases[0])
        #expect(released.closes.map(\.1) == [.evicted], "the released connection makes room for b")
        let freed = h.closed(aLeases[0].connectionID)
        let opening = try #require(freed.opens.first)
        #expect(h.opened(opening).grant(of: request) != nil)
    }

    @Test func theServerBudgetIsNeverExceeded() {
        var h = Harness()
        let server = h.group.addServer(maxConnections: 5)
        let pools = (0..<3).map { _ in h.addOpenPool(.test(min: 1, max: 5), server: server) }
        var outstanding: [LeaseGrant] = []
        for round in 0..<60 {
            let pool = pools[round % 3]
            let (request, actions) = h.borrow(pool, wait: .seconds(1))
            var produced = actions
            produced += h.openAll(actions)
            produced += h.openAll(h.closeAll(produced))
            if let grant = produced.grant(of: request) { outstanding.append(grant) }
            #expect(h.group.serverUsage(server)!.used <= 5)
            if round % 4 == 3, !outstanding.isEmpty {
                let released = h.release(outstanding.removeFirst())
                h.openAll(h.closeAll(released))
            }
            h.advance(by: .milliseconds(300))
            #expect(h.violations().isEmpty)
        }
    }

    @Test func loweringTheServerBudgetClosesIdleConnections() {
        var h = Harness()
        let server = h.group.addServer(maxConnections: 6)
        let a = h.addOpenPool(.test(min: 3, max: 3), server: server)
        _ = h.addOpenPool(.test(min: 3, max: 3), server: server)
        let held = h.lease(a)
        let lowered = h.record(h.group.setServerLimit(server, maxConnections: 2, now: h.now))
        #expect(lowered.closes.count == 4)
        #expect(lowered.closes.allSatisfy { $0.1 == .serverLimit })
        #expect(lowered.opens.isEmpty, "min does not beat the server budget")
        h.closeAll(lowered)
        #expect(h.group.serverUsage(server)?.used == 2)
        #expect(h.release(held).isEmpty, "within budget now")
    }
    @Test func aBorrowHeldBackByTheServerBudgetSaysSoAndOneHeldBackByItsPoolDoesNot() throws {
        var h = Harness()
        let server = h.group.addServer(maxConnections: 2)
        let a = h.addOpenPool(.test(min: 0, max: 2), server: server)
        let held = (0..<2).map { _ -> LeaseGrant in
            let (request, actions) = h.borrow(a)
            return (actions + h.openAll(actions)).grant(of: request)!
        }
        let (b, _) = h.addPool(.test(min: 0, max: 10), server: server)

        // b has 0 of 10: only the server's budget of 2 holds it back, with a wait and without one.
        let (waiting, _) = h.borrow(b, wait: .milliseconds(100))
        let ended = h.advance(by: .milliseconds(100))
        #expect(ended.failure(of: waiting) == .serverBudgetExhausted(server, limit: 2))
        let (atOnce, refused) = h.borrow(b, wait: .zero)
        #expect(refused.failure(of: atOnce) == .serverBudgetExhausted(server, limit: 2))

        // a is at its own max: that is its pool's limit, whatever the server says.
        let (own, _) = h.borrow(a, wait: .milliseconds(100))
        #expect(h.advance(by: .milliseconds(100)).failure(of: own) == .timeout)
        #expect(h.status(b).totals.timeouts == 2, "held back by the budget is a timeout in the totals")
        #expect(h.status(a).totals.timeouts == 1)
        _ = held
        #expect(h.violations().isEmpty)
    }
}
