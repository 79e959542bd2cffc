import Foundation
@testable import PoolWardenHTTP
@testable import PoolWardenRuntime
import TestPostgres
import Testing

/// Borrow latency as callers see it, printed for RELIABILITY.md: 8 callers share a pool of 4, each
/// borrowing, running `SELECT 1` and releasing 150 times, so that most borrows wait for a connection
/// another caller gives back (its reset, then the tagging of the new holder). Run it alone and
/// beside busy loops to compare (`scripts/test-loaded --filter BorrowLatencyTests`). It asserts only
/// that every borrow is served within the pool's wait; the figures are for reading.
@Suite struct BorrowLatencyTests {
    @Test func borrowLatency() async throws {
        try await Runtime.withFixture(configure: { $0.max = 4 }) { registry, _, _ in
            let callers = 8
            let rounds = 150
            let latencies = try await withThrowingTaskGroup(of: [Duration].self) { group in
                for index in 0..<callers {
                    let caller = CallerIdentity(name: "caller\(index)", role: .client)
                    group.addTask {
                        var mine: [Duration] = []
                        mine.reserveCapacity(rounds)
                        for _ in 0..<rounds {
                            let started = ContinuousClock.now
                            let token = try #require(try await registry.borrow("p", caller).lease.token)
                            mine.append(ContinuousClock.now - started)
                            _ = try await registry.run(token, caller, "SELECT 1")
                            try await registry.release(token: token, caller: caller)
                        }
                        return mine
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }.sorted()
            }
            #expect(latencies.count == callers * rounds)
            func percentile(_ p: Int) -> String {
                let value = latencies[Swift.min(latencies.count - 1, latencies.count * p / 100)]
                return String(format: "%.2f", Double(value.components.attoseconds) / 1e15 + Double(value.components.seconds) * 1000)
            }
            print("borrow latency: \(latencies.count) borrows, 8 callers on a pool of 4: p50 \(percentile(50)) ms, p99 \(percentile(99)) ms, max \(percentile(100)) ms")
        }
    }
}
