import Foundation
@testable import PoolWardenHTTP
@testable import PoolWardenRuntime
import PostgresLibPQ
import TestPostgres
import Testing

/// `max_per_caller` limits the leases a caller holds: its further borrows queue instead of being
/// refused, `max_waiting` bounds the queue, and a wait that ends says why it ended.
@Suite("Fair waiting")
struct FairWaitingTests {
    @Test("64 concurrent single shots of one caller on a pool of 16: every one answered, none refused, never more than 16 backends")
    func oneCallersBurstQueues() async throws {
        try await Runtime.withFixture(configure: { settings in
            settings.max = 16
            settings.maxPerCaller = 16
            settings.borrowTimeout = .seconds(60)
        }) { registry, server, database in
            let sampler = try await BackendSampler(server, database: database)
            let started = ContinuousClock.now
            let answers = await withTaskGroup(of: Result<Int64?, WardenError>.self) { group in
                for shot in 0..<64 {
                    group.addTask {
                        do throws(WardenError) {
                            let result = try await registry.queryOnce(
                                pool: "p", caller: Runtime.alice, sql: "SELECT $1::int FROM pg_sleep(0.3)",
                                parameters: [String(shot)], timeout: nil
                            )
                            return .success(Runtime.int(result))
                        } catch {
                            return .failure(error)
                        }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            let elapsed = ContinuousClock.now - started
            let (peak, samples) = sampler.stop()
            let failures = answers.compactMap { if case .failure(let error) = $0 { error } else { nil } }
            print("FairWaitingTests: 64 single shots on max 16 in \(elapsed), peak backends \(peak) in \(samples) samples, failures \(failures.map(\.code))")
            #expect(failures.isEmpty, "\(failures.count) refused: \(Set(failures.map(\.code)).sorted())")
            #expect(!failures.contains { $0.status == 429 })
            let values = answers.compactMap { if case .success(let value) = $0 { value } else { nil } }
            #expect(Set(values) == Set((0..<64).map(Int64.init)), "each shot ran its own statement")
            #expect(samples >= 3, "the sampler watched the burst")
            #expect(peak <= 16, "\(peak) backends on a pool of max 16")
            let status = try registry.status(pool: "p")
            #expect(status.counts.open <= 16 && status.counts.waiting == 0)
            #expect(status.totals.timeouts == 0 && status.totals.borrows == 64)
        }
    }

    @Test("max_waiting refuses the borrow beyond it at once with too_many_waiting; it follows max while unset")
    func maxWaitingBoundsTheQueue() async throws {
        try await Runtime.withFixture(configure: { settings in
            settings.max = 1
            settings.maxWaiting = 2
        }) { registry, _, _ in
            let held = try await registry.token("p", Runtime.alice)
            // Each waiter gives its lease back itself: bob's max_per_caller (1) lets the second
            // through only after the first's release, whichever of them is served first.
            let waiting = (0..<2).map { _ in
                Task {
                    let outcome = try await registry.borrow("p", Runtime.bob, wait: .seconds(20))
                    try await registry.release(token: try #require(outcome.lease.token), caller: Runtime.bob)
                }
            }
            #expect(await Runtime.eventually { (try? registry.status(pool: "p").counts.waiting) == 2 })
            let started = ContinuousClock.now
            let refused = await Runtime.error { try await registry.borrow("p", Runtime.ops, wait: .seconds(20)) }
            #expect(refused == .tooManyWaiting(pool: "p", limit: 2))
            #expect(ContinuousClock.now - started < .seconds(5), "refused without waiting")
            #expect(refused?.status == 429 && refused?.code == "too_many_waiting")
            #expect(try registry.status(pool: "p").settings.waitingLimit == 2)

            try await registry.release(token: held, caller: Runtime.alice)
            for task in waiting { try await task.value }

            // The config's rule and words, for POST and PATCH alike.
            let none = await Runtime.error { try await registry.updatePool("p", PoolPatch(maxWaiting: 0)) }
            #expect(none == .invalidRequest("max_waiting must be between 1 and 100000, got 0", field: "max_waiting"))
            var unset = try registry.status(pool: "p").settings
            unset.maxWaiting = nil
            unset.max = 3
            #expect(unset.waitingLimit == 30, "ten per connection of max")
            let patched = try await registry.updatePool("p", PoolPatch(maxWaiting: 5))
            #expect(patched.settings.waitingLimit == 5)
        }
    }

    @Test("a borrow whose wait ends on a paused pool answers pool_paused, though a connection is idle")
    func pausedPoolSaysPaused() async throws {
        let metrics = RuntimeTestMetrics()
        try await Runtime.withFixture(metrics: metrics, configure: { $0.min = 1 }) { registry, _, _ in
            #expect(await Runtime.eventually { (try? registry.status(pool: "p").counts.idle) == 1 })
            _ = try registry.pause("p")
            let paused = await Runtime.error { try await registry.borrow("p", Runtime.alice, wait: .milliseconds(200)) }
            #expect(paused == .poolPaused(pool: "p", waited: .milliseconds(200), retryAfterSeconds: 1))
            #expect(paused?.status == 503)
            #expect(paused?.detail.contains("paused by an operator") == true)
            #expect(try registry.status(pool: "p").totals.timeouts == 1)
            registry.refreshMetrics()
            #expect(metrics.counter("poolwarden_borrow_timeouts_total", pool: "p") == 1, "status and metrics agree")
            _ = try registry.resume("p")
            #expect(try await registry.borrow("p", Runtime.alice, wait: .seconds(5)).created)
        }
    }
}
