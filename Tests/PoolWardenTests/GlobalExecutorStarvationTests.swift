#if canImport(Glibc)
import Glibc
#endif
import Foundation
import PoolCore
@testable import PoolWardenHTTP
@testable import PoolWardenRuntime
@testable import PostgresLibPQ
import Synchronization
import TestPostgres
import Testing

/// Issue 12: the pool must not need a thread of Swift's global executor. Every thread of it is
/// held here by jobs that block (as a careless embedding app, or a loaded machine, would hold
/// them), and the pool's whole cycle must still run: a connect, a statement, a borrow that waits
/// and is resumed by a release, a statement timeout with its cancel, a release while a statement
/// runs, a single shot, a lease that expires. The test body runs on a thread of its own and waits
/// without `Task.sleep`, so nothing it does needs the global executor either.
///
/// The scenario runs in a process of its own (this test binary, filtered to it): held in the
/// shared test process, the global executor would stall every other test for seconds.
@Suite("The pool works while every thread of the global executor is held", .ownThread)
struct GlobalExecutorStarvationTests {
    /// Blocks every thread of the global executor until `release()`; `isHolding` tells whether
    /// every holder runs and a job enqueued after them has not started.
    final class Holders: Sendable {
        private let running = Atomic<Int>(0)
        private let released = Atomic<Bool>(false)
        private let markerRan = Atomic<Bool>(false)
        let count: Int

        init() {
            // One per thread of the pool (one per core), and as many again in the queue.
            count = 2 * ProcessInfo.processInfo.activeProcessorCount
            for _ in 0..<count {
                Task.detached { [self] in
                    running.add(1, ordering: .sequentiallyConsistent)
                    // Let go after a minute at most, so that a pool that does need the global
                    // executor fails this test instead of hanging the run.
                    let deadline = ContinuousClock.now + .seconds(60)
                    while !released.load(ordering: .sequentiallyConsistent), ContinuousClock.now < deadline { usleep(1_000) }
                }
            }
            Task.detached { [self] in markerRan.store(true, ordering: .sequentiallyConsistent) }
        }

        /// Waits, on the calling thread, until the pool's threads are all taken.
        func waitUntilHeld(timeout: Duration) -> Bool {
            let deadline = ContinuousClock.now + timeout
            while running.load(ordering: .sequentiallyConsistent) < ProcessInfo.processInfo.activeProcessorCount {
                if ContinuousClock.now > deadline { return false }
                usleep(1_000)
            }
            return true
        }

        /// True while the job enqueued after the holders has not run: the pool is still held.
        var stillHeld: Bool { !markerRan.load(ordering: .sequentiallyConsistent) }

        func release() { released.store(true, ordering: .sequentiallyConsistent) }
    }

    static let childVariable = "POOLWARDEN_STARVATION_CHILD"

    @Test("connect, statement, waiting borrow, timeout, busy release, single shot and expiry all run while the global executor is held")
    func poolRunsWithoutTheGlobalExecutor() async throws {
        guard ProcessInfo.processInfo.environment[Self.childVariable] != nil else {
            let binary = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
            let output = NSTemporaryDirectory() + "poolwarden-starvation-\(UUID().uuidString).log"
            defer { try? FileManager.default.removeItem(atPath: output) }
            let pid = try TestCluster.spawn(
                "/usr/bin/env",
                ["-u", "POOLWARDEN_STALL_PROBE", "\(Self.childVariable)=1", "timeout", "120", binary, "--testing-library", "swift-testing", "--filter", "GlobalExecutorStarvationTests"],
                outputPath: output
            )
            let status = try await TestPostgres.offThread { () -> Int32 in
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                return status
            }
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            let lines = text.split(separator: "\n").filter { $0.contains("GlobalExecutorStarvationTests:") || $0.contains("recorded an issue") }
            print(lines.joined(separator: "\n"))
            #expect(status == 0 && text.contains("1 test in 1 suite passed"), "the child run failed (status \(status)):\n\(text.suffix(4_000))")
            return
        }
        try await Runtime.withFixture(configure: {
            $0.max = 1
            $0.statementTimeout = .seconds(10)
        }) { registry, server, _ in
            let holders = Holders()
            defer { holders.release() }
            #expect(holders.waitUntilHeld(timeout: .seconds(20)), "the holders never all ran")
            var steps: [(String, Duration)] = []
            func step<T>(_ name: String, _ body: () async throws -> T) async rethrows -> T {
                let began = ContinuousClock.now
                let value = try await body()
                steps.append((name, ContinuousClock.now - began))
                return value
            }

            // The first borrow connects (max 1, min 0).
            let first = try await step("borrow with connect") { try await registry.token("p", Runtime.alice) }
            let one = try await step("statement") { try await registry.run(first, Runtime.alice, "SELECT 1") }
            #expect(Runtime.int(one) == 1)
            // A statement past its timeout is cancelled on the server; the lease stays usable.
            let timedOut = await step("statement timeout") {
                await Runtime.error { try await registry.run(first, Runtime.alice, "SELECT pg_sleep(30)", timeout: .milliseconds(300)) }
            }
            #expect(timedOut?.code == "statement_timeout", "\(String(describing: timedOut))")

            // A borrow that waits for the one connection, resumed by its release.
            async let waiting = registry.borrow("p", Runtime.bob, wait: .seconds(20))
            var queued = false
            for _ in 0..<2_000 where !queued {
                queued = (try? registry.status(pool: "p").counts.waiting) == 1
                // Yields this thread to the borrow's child task, which prefers it too.
                if !queued { await Task.yield() }
            }
            #expect(queued, "the second borrow never queued")
            let releasing = ContinuousClock.now
            try await step("release") { try await registry.release(token: first, caller: Runtime.alice) }
            let second = try #require(try await waiting.lease.token)
            steps.append(("waiting borrow, from the release to its lease", ContinuousClock.now - releasing))

            // A release while a statement runs cancels it and answers.
            async let running = Runtime.error { try await registry.run(second, Runtime.bob, "SELECT pg_sleep(30)") }
            let pid = try #require(try registry.status(pool: "p").connections.first?.backendPID)
            var active = false
            for _ in 0..<1_000 where !active {
                active = try await server.execute("SELECT state FROM pg_stat_activity WHERE pid = $1::int", ["\(pid)"]).rows.first?.first == .string("active")
                if !active { await Task.yield() }
            }
            #expect(active, "the statement never started")
            try await step("release while a statement runs") { try await registry.release(token: second, caller: Runtime.bob) }
            _ = await running

            let shot = try await step("single shot") {
                try await registry.queryOnce(pool: "p", caller: Runtime.alice, sql: "SELECT 2", parameters: [], timeout: nil)
            }
            #expect(Runtime.int(shot) == 2)

            // A lease left alone expires by its ttl: the expiry timer runs too.
            let forgotten = try await registry.borrow(pool: "p", caller: Runtime.alice, ttl: .milliseconds(300), wait: nil, key: nil)
            let token = try #require(forgotten.lease.token)
            var expired = false
            let expiryBegan = ContinuousClock.now
            while !expired, ContinuousClock.now - expiryBegan < .seconds(10) {
                expired = (try? registry.status(pool: "p").counts.leased) == 0
                if !expired { usleep(5_000) }
            }
            steps.append(("lease expiry (ttl 300 ms)", ContinuousClock.now - expiryBegan))
            #expect(expired, "the forgotten lease never expired")
            #expect(await Runtime.error { try await registry.run(token, Runtime.alice, "SELECT 1") }?.code == "lease_gone")

            #expect(holders.stillHeld, "the global executor ran a job during the test: it proved nothing")
            holders.release()
            print("GlobalExecutorStarvationTests: with the global executor held: " + steps.map { "\($0.0) \($0.1)" }.joined(separator: ", "))
            for (name, took) in steps {
                // Each is milliseconds on an idle machine; seconds only if it waited for a thread
                // that never came (the holders hold for as long as the steps take).
                #expect(took < .seconds(3), "\(name) took \(took)")
            }
        }
    }
}
