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

    @Test func aPoolShowsDegradedFromItsFirstFailedConnectAndWaitersKeepWaitingUntilTheirDeadline() throws {
        var h = Harness()
        let (pool, _) = h.addPool(.test(min: 0, max: 2))
        let (first, actions) = h.borrow(pool, wait: .seconds(60))
        let id = try #require(actions.opens.first)
        let (second, more) = h.borrow(pool, wait: .seconds(60))
        #expect(more.opens.count == 1)
        let other = more.opens[0]

        // A server that accepts TCP and never answers shows at its first connect timeout.
        var last = h.connectFailed(id, "timeout expired")
        #expect(h.status(pool).state == .degraded)
        while let backoff = last.scheduled.first(where: { $0.kind == .connectBackoff(id) }) {
            guard h.advance(by: backoff.delay).opens.contains(id) else { break }
            last = h.connectFailed(id, "FATAL: password authentication failed")
        }
        #expect(last.failure(of: first) == nil, "a waiter failed before its wait ended")
        #expect(last.scheduled.contains { if case .breakerProbe(pool) = $0.kind { return true } else { return false } })
        let status = h.status(pool)
        #expect(status.state == .degraded)
        #expect(status.lastError == "FATAL: password authentication failed")
        #expect(status.counts.waiting == 2)
        h.connectFailed(other)

        // Probes go on while they wait; at their deadline they end with the connect error.
        let ended = h.advance(by: .seconds(61))
        #expect(ended.failure(of: first) == .connectFailed(lastError: h.status(pool).lastError))
        #expect(ended.failure(of: second) == .connectFailed(lastError: h.status(pool).lastError))
        #expect(h.status(pool).totals.connectFailedRejections == 2)
        #expect(h.status(pool).totals.timeouts == 0)
        #expect(h.violations().isEmpty)
    }

    @Test func aBorrowOnADegradedPoolTriesTheServerAgainInsteadOfAnsweringTheLastError() throws {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 1, max: 3))
        let holder = h.lease(pool)
        let (waiting, actions) = h.borrow(pool, wait: .seconds(60))
        let id = try #require(actions.opens.first)
        let last = exhaust(&h, id, error: "no route to host")
        #expect(last.failure(of: waiting) == nil)

        // Right after a failure it does not hammer the server...
        let (early, earlyActions) = h.borrow(pool, wait: .seconds(60))
        #expect(earlyActions.failure(of: early) == nil)
        #expect(earlyActions.opens.isEmpty)
        // ...but a base delay later a borrow probes at once, and the connection serves the queue in order.
        h.advance(by: .milliseconds(100))
        let (late, lateActions) = h.borrow(pool, wait: .seconds(60))
        let probe = try #require(lateActions.opens.first, "the borrow did not try the server")
        let served = h.opened(probe)
        #expect(served.grants.map(\.request) == [waiting])
        #expect(h.status(pool).state == .running)
        _ = h.openAll(served)

        // The lease held all along goes on.
        let released = h.release(holder)
        #expect(!released.grants.isEmpty || h.status(pool).counts.waiting < 2)
        _ = late
        #expect(h.violations().isEmpty)
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
        #expect(h.status(pool).lastError == nil, "the error of the outage is not shown once it is over")
        #expect(recovered.opens.count == 1, "min is refilled after recovery")
        #expect(h.status(pool).counts.open == 2)
        #expect(h.status(pool).consecutiveConnectFailures == 0)
        #expect(h.borrow(pool).actions.grants.count == 1)
    }
}
