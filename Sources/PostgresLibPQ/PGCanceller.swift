import CLibPQ
import Foundation
import Synchronization

/// Sends cancel requests for one connection without ever holding the caller past its deadline.
///
/// libpq 15's PQcancel is blocking: it connects to the postmaster and waits for it to close the
/// socket, and a stopped or frozen postmaster (its kernel still accepts the connection) never does.
/// So each request runs on a thread of its own that the caller stops waiting for at its deadline.
/// The thread ends when the server answers or the socket fails. At most one request per
/// connection is in flight, at most ``maxPerServer`` per server and ``maxInFlight`` in the
/// process: a frozen server cannot pile up threads, and its hung requests cannot use up the budget
/// that cancels to the other, healthy servers need. Beyond a budget a cancel is not sent, and the
/// caller goes on to hang up.
final class PGCanceller: @unchecked Sendable {
    // Safety: PQcancel may be called from any thread on a PGcancel that stays alive, which the
    // request's thread guarantees by holding this object; PQfreeCancel runs when the last holder
    // lets go.
    private let pointer: OpaquePointer
    /// The host and port the connection reached: the key of the per-server budget.
    private let server: String
    private let inFlight = Atomic<Bool>(false)
    private static let budget = Mutex(Budget())
    /// Cancel threads that may wait on one unresponsive server at once.
    static let maxPerServer = 16
    /// Cancel threads that may wait on unresponsive servers at once, all servers together.
    static let maxInFlight = 256

    private struct Budget {
        var total = 0
        var perServer: [String: Int] = [:]

        mutating func take(_ server: String) -> Bool {
            guard total < PGCanceller.maxInFlight, perServer[server, default: 0] < PGCanceller.maxPerServer else { return false }
            total += 1
            perServer[server, default: 0] += 1
            return true
        }

        mutating func give(_ server: String) {
            total -= 1
            let left = perServer[server, default: 1] - 1
            perServer[server] = left > 0 ? left : nil
        }
    }

    init(_ pointer: OpaquePointer, server: String) {
        self.pointer = pointer
        self.server = server
    }

    deinit {
        PQfreeCancel(pointer)
    }

    /// Cancel requests whose thread has not finished yet, in the whole process.
    static var threadsInFlight: Int { budget.withLock { $0.total } }

    /// Cancel requests whose thread has not finished yet, per server (`host:port`).
    static var threadsPerServer: [String: Int] { budget.withLock { $0.perServer } }

    func cancel(timeout: Duration) async -> Bool {
        guard inFlight.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            return false
        }
        guard Self.budget.withLock({ $0.take(server) }) else {
            inFlight.store(false, ordering: .releasing)
            return false
        }
        let answer = OneShot()
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            answer.arm(continuation)
            // On a reactor thread: the deadline must not wait for a cooperative thread that other
            // work holds.
            let timer = Task(executorPreference: PGReactor.upcoming) {
                // Cancelled once the request has its answer: that is not a timeout.
                do { try await Task.sleep(for: timeout) } catch { return }
                answer.resume(false)
            }
            Thread.detachNewThread { [self] in
                var buffer = [CChar](repeating: 0, count: 256)
                let sent = PQcancel(pointer, &buffer, Int32(buffer.count)) == 1
                Self.budget.withLock { $0.give(server) }
                inFlight.store(false, ordering: .releasing)
                answer.resume(sent)
                timer.cancel()
            }
        }
    }

    /// Resumes its continuation once, with whichever answer comes first.
    private final class OneShot: Sendable {
        private let continuation = Mutex<CheckedContinuation<Bool, Never>?>(nil)

        func arm(_ continuation: CheckedContinuation<Bool, Never>) {
            self.continuation.withLock { $0 = continuation }
        }

        func resume(_ value: Bool) {
            let pending = continuation.withLock { stored -> CheckedContinuation<Bool, Never>? in
                defer { stored = nil }
                return stored
            }
            pending?.resume(returning: value)
        }
    }
}
