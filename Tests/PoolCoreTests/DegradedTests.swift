import Testing
@testable import PoolCore

@Suite struct DegradedTests {
    /// Fails every connect attempt of `id` until the budget is spent; returns the last answer.
    func exhaust(_ h: inout Harness, _ id: ConnectionID, error: String) -> [PoolAction] {
        var last = h.connectFailed(id, error)
        while let backoff = last.scheduled.first(where: { $0.kind == .connectBackoff(id) }) {
            let fired = h.advance(by: backoff.delay)
            guard fired.opens.contains(id) else { return last }
            last = h.connectFailed(id, error)
        }
        return last
    }

    @Test func exhaustingTheAttemptsFailsWaitersWithTheLastErrorAndDegradesThePool() throws {
        var h = Harness()
        let (pool, _) = h.addPool(.test(min: 0, max: 2))
        let (first, actions) = h.borrow(pool, wait: .seconds(60))
        let id = try #require(actions.opens.first)
        let (second, more) = h.borrow(pool, wait: .seconds(60))
        #expect(more.opens.count == 1)
        let other = more.opens[0]

        let last = exhaust(&h, id, error: "FATAL: password authentication failed")
        #expect(last.failure(of: first) == .connectFailed(lastError: "FATAL: password authentication failed"))
        #expect(last.failure(of: second) == .connectFailed(lastError: "FATAL: password authentication failed"))
        #expect(last.scheduled.contains { if case .breakerProbe(pool) = $0.kind { return true } else { return false } })

        let status = h.status(pool)
        #expect(status.state == .degraded)
        #expect(status.lastError == "FATAL: password authentication failed")
        #expect(status.totals.connectFailures == 3)
        #expect(status.counts.waiting == 0)
        // The other connect still in flight is abandoned if it fails too.
        h.connectFailed(other)
        #expect(h.status(pool).connections.isEmpty)
        #expect(h.violations().isEmpty)
    }

    @Test func whileDegradedBorrowsFailFastUnlessAConnectionIsIdle() throws {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 1, max: 3))
        let holder = h.lease(pool)
        let (waiting, actions) = h.borrow(pool, wait: .seconds(60))
        let id = try #require(actions.opens.first)
        let last = exhaust(&h, id, error: "no route to host")
        #expect(last.failure(of: waiting) == .connectFailed(lastError: "no route to host"))

        let (fast, fastActions) = h.borrow(pool)
        #expect(fastActions.failure(of: fast) == .connectFailed(lastError: "no route to host"))
        #expect(fastActions.opens.isEmpty && fastActions.scheduled.isEmpty, "no wait and no connect while the server is known down")

        // The lease held all along goes on; once back, its connection is still handed out.
        h.release(holder)
        #expect(h.borrow(pool).actions.grants.count == 1)
        #expect(h.status(pool).totals.connectFailedRejections == 2)
    }

    @Test func aSuccessfulProbeEndsTheDegradedState() throws {
        var h = Harness()
        var configuration = PoolConfiguration.test(min: 2, max: 4)
        configuration.probeInterval = .seconds(10)
        let (pool, start) = h.addPool(configuration)
        for id in start.opens {
            _ = exhaust(&h, id, error: "connection refused")
        }
        #expect(h.status(pool).state == .degraded)

        // A failed probe schedules the next one; only one connect at a time.
        let probe = h.advance(by: .seconds(10))
        #expect(probe.opens.count == 1)
        let probeID = probe.opens[0]
        #expect(probe.contains(.open(probeID, pool: pool, attempt: 1)))
        let failedProbe = h.connectFailed(probeID)
        #expect(failedProbe.scheduled.map(\.kind) == [.breakerProbe(pool)])
        #expect(h.status(pool).state == .degraded)

        let secondProbe = h.advance(by: .seconds(10))
        let recovered = h.openAll(secondProbe)
        #expect(h.status(pool).state == .running)
        #expect(recovered.opens.count == 1, "min is refilled after recovery")
        #expect(h.status(pool).counts.open == 2)
        #expect(h.status(pool).consecutiveConnectFailures == 0)
        #expect(h.borrow(pool).actions.grants.count == 1)
    }
}
