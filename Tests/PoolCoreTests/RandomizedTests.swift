#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TestPostgres
import Testing
@testable import PoolCore

/// Drives two pools sharing a server budget (and one pool of its own) with random events and checks
/// DESIGN.md's invariants 1, 2 and 6 after every step (a caller at its quota waits without holding
/// up the others, the queue stays within `max_waiting`, every failure names its real reason), then
/// shuts down and checks that every borrow ended served, timed out or failed for a stated reason
/// and that no connection is left.
///
/// `POOLCORE_SEED` and `POOLCORE_STEPS` change the seed and the number of steps; `POOLCORE_TRACE=1`
/// shows the events that led to a failure.
@Suite(.ownThread) struct RandomizedTests {
    static func environment(_ name: String) -> UInt64? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        if text.hasPrefix("0x") { return UInt64(text.dropFirst(2), radix: 16) }
        return UInt64(text)
    }

    @Test func randomEventsKeepTheInvariants() {
        let seed = Self.environment("POOLCORE_SEED") ?? 0x5EED_2026
        let steps = Int(Self.environment("POOLCORE_STEPS") ?? 100_000)
        var runtime = RandomizedRuntime(seed: seed)
        runtime.tracing = Self.environment("POOLCORE_TRACE") == 1
        let server = runtime.group.addServer(maxConnections: 5)
        runtime.serverLimit[server] = 5
        runtime.addPool(RandomizedRuntime.configuration(min: 1, max: 4, perCaller: 3, maxWaiting: 6), server: server)
        runtime.addPool(RandomizedRuntime.configuration(min: 1, max: 3, perCaller: 2, maxWaiting: 3), server: server)
        runtime.addPool(RandomizedRuntime.configuration(min: 0, max: 2, perCaller: 2), server: nil)
        var replacedPools: Set<PoolID> = []
        var serverDown = false

        for step in 0..<steps {
            runtime.step = step
            switch runtime.number(below: 1000) {
            case 0..<220: runtime.borrow()
            case 220..<360: runtime.release()
            case 360..<400: runtime.cancel()
            case 400..<540: runtime.advance(by: runtime.milliseconds(0...600))
            case 540..<670: runtime.completeOpen(serverDown: serverDown)
            case 670..<720: runtime.completeReset()
            case 720..<760: runtime.completeCheck()
            case 760..<840: runtime.completeClose()
            case 840..<885: runtime.touch()
            case 885..<905: runtime.resize()
            case 905..<915: runtime.recycle()
            case 915..<935: runtime.togglePause()
            case 935..<939: runtime.loseConnection()
            case 939..<945: runtime.revokeOne()
            case 945..<948: runtime.deletePool()
            case 948..<951: runtime.changeServerLimit(server)
            case 951..<956: serverDown.toggle()
            default: runtime.advance(by: runtime.milliseconds(500...3000))
            }
            // A deleted pool comes back, so the run keeps its mix of pools.
            for pool in runtime.closedPools where !replacedPools.contains(pool) {
                replacedPools.insert(pool)
                let server = runtime.replacementServer[pool]
                runtime.addPool(RandomizedRuntime.configuration(min: 1, max: 3, perCaller: 2), server: server)
            }
            runtime.checkInvariants(bookkeeping: step % 8 == 0)
            if !runtime.problems.isEmpty { break }
        }
        #expect(runtime.problems.isEmpty, "seed \(seed): \(runtime.problems.joined(separator: "\n"))")

        // Every kind of event must have happened, or the run proved little.
        let outcomes = runtime.outcomes.values
        let failures = Set(outcomes.compactMap { if case .failed(let failure) = $0 { return failure } else { return nil } })
        #expect(outcomes.contains(.served))
        #expect(outcomes.contains(.timedOut))
        #expect(failures.contains(.callerQuota))
        #expect(failures.contains(.paused))
        #expect(failures.contains(.tooManyWaiting))
        #expect(failures.contains(.cancelled))
        if steps >= 10_000 {
            #expect(failures.contains { if case .connectFailed = $0 { return true } else { return false } })
            #expect(failures.contains(.poolDraining))
            #expect(runtime.revokeReasons[.expired, default: 0] > 0)
            #expect(runtime.revokeReasons[.recycled, default: 0] > 0)
            #expect(runtime.revokeReasons[.revoked, default: 0] > 0)
            for reason in [CloseReason.evicted, .broken, .resetFailed, .checkFailed, .recycled, .surplus, .idleTimeout, .lost] {
                #expect(runtime.closeReasons[reason, default: 0] > 0, "no connection was closed as \(reason)")
            }
        }

        // Shut down and let every connect, reset, check and close in flight finish.
        runtime.step = steps
        runtime.apply(runtime.group.shutdown(now: runtime.now))
        var rounds = 0
        while !runtime.shutdownComplete && rounds < 10_000 {
            rounds += 1
            runtime.completeOpen(serverDown: serverDown)
            runtime.completeReset()
            runtime.completeCheck()
            runtime.completeClose()
            runtime.advance(by: .milliseconds(200))
        }
        runtime.checkInvariants()
        #expect(runtime.shutdownComplete)
        #expect(runtime.group.isShutDown)
        #expect(runtime.poolOf.isEmpty, "no server connection is left (invariant 5)")
        #expect(runtime.pending.isEmpty, "every borrow ended served, timed out or failed for a reason")
        #expect(runtime.leases.isEmpty)
        #expect(runtime.problems.isEmpty, "seed \(seed): \(runtime.problems.joined(separator: "\n"))")
        #expect(runtime.outcomes.count == Int(runtime.nextRequest - 1), "every request has exactly one outcome")
    }
}
