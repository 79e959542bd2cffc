#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CEpoll
import Foundation
import Synchronization

/// Readiness notifications for libpq sockets: one thread blocked in `epoll_wait` serves every
/// connection in the process, and a waiting task is resumed as a continuation.
///
/// A dedicated epoll thread (rather than one DispatchSource per wait) because a query waits on its
/// socket once or twice: creating and cancelling a dispatch source each time costs more than the
/// round trip, and DispatchSource on Linux needs its cancel handler to run before the descriptor may
/// be closed, which libpq (owning the socket) cannot honour. NIO has no public API to watch a socket
/// that another library reads. One-shot epoll registrations keyed by a per-wait id make stale events
/// harmless: an event for a wait that already ended finds no waiter and is dropped.
final class PGReactor: TaskExecutor {
    /// What a waiter is woken by.
    enum Outcome: Sendable {
        case ready
        case timedOut
    }

    struct Interest: OptionSet, Sendable {
        let rawValue: UInt32
        // EPOLLIN | EPOLLRDHUP and EPOLLOUT (<sys/epoll.h>).
        static let read = Interest(rawValue: 0x001 | 0x2000)
        static let write = Interest(rawValue: 0x004)
    }

    private struct Waiter {
        var continuation: CheckedContinuation<Outcome, Never>
        var deadline: ContinuousClock.Instant?
        var owner: ObjectIdentifier?
    }

    private struct State {
        var waiters: [UInt64: Waiter] = [:]
        var nextID: UInt64 = 1
        /// Ids of waiters that carry a deadline.
        var timed: Set<UInt64> = []
        /// When the loop next looks for passed deadlines: the earliest deadline when it last
        /// looked, or an earlier one added since. Statements share a timeout, so a new deadline is
        /// almost always later and costs neither a wake-up nor a scan; a waiter that ends before
        /// its deadline leaves this early, which costs one scan that finds nothing.
        var nextCheck: ContinuousClock.Instant?
        /// Jobs of tasks that prefer this thread as their executor.
        var jobs: [UnownedJob] = []
        /// The loop is (about to be) blocked in epoll_wait: a job from another thread must wake it.
        var sleeping = false
        /// Owners whose waits end at once, including waits that begin after the interrupt.
        var interrupted: Set<ObjectIdentifier> = []

        func timeoutMilliseconds() -> Int32 {
            if !jobs.isEmpty { return 0 }
            guard let nextCheck else { return -1 }
            let remaining = ContinuousClock.now.duration(to: nextCheck)
            if remaining <= .zero { return 0 }
            let (seconds, attoseconds) = remaining.components
            let milliseconds = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
            return Int32(clamping: milliseconds)
        }
    }

    /// One reactor per core; connections are spread over them round-robin, so that tasks that
    /// prefer their connection's reactor use every core, as pgbench does with one thread per core.
    static let all: [PGReactor] = (0..<max(1, ProcessInfo.processInfo.activeProcessorCount)).map { PGReactor(index: $0) }
    private static let nextIndex = Atomic<Int>(0)

    /// The reactor for a new connection.
    static func next() -> PGReactor {
        all[nextIndex.wrappingAdd(1, ordering: .relaxed).oldValue % all.count]
    }

    /// The reactor `next()` will return, without taking it.
    static var upcoming: PGReactor {
        all[nextIndex.load(ordering: .relaxed) % all.count]
    }
    /// EPOLLONESHOT: an event disarms the descriptor until the next wait re-arms it.
    private static let oneShot: UInt32 = 1 << 30

    private let epollFD: Int32
    private let wakeFD: Int32
    private let state = Mutex(State())

    private init(index: Int) {
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(epollFD >= 0, "epoll_create1 failed: errno \(errno)")
        wakeFD = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        precondition(wakeFD >= 0, "eventfd failed: errno \(errno)")
        var event = epoll_event()
        event.events = Interest.read.rawValue
        event.data.u64 = 0
        precondition(epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &event) == 0)
        let thread = Thread { [self] in self.run() }
        thread.name = "pg-reactor-\(index)"
        thread.start()
    }

    /// Suspends until `fd` is ready for `interest`, the deadline passes, or the socket is shut down
    /// (which reports ready: libpq then reads the end of stream and reports the loss).
    ///
    /// `owner` lets ``interrupt(owner:)`` end the wait early (it then reports `.timedOut`).
    func wait(fd: Int32, for interest: Interest, deadline: ContinuousClock.Instant? = nil, owner: ObjectIdentifier? = nil) async -> Outcome {
        await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
            let (id, mustWake) = state.withLock { state -> (UInt64, Bool) in
                if let owner, state.interrupted.contains(owner) { return (0, false) }
                let id = state.nextID
                state.nextID &+= 1
                state.waiters[id] = Waiter(continuation: continuation, deadline: deadline, owner: owner)
                guard let deadline else { return (id, false) }
                state.timed.insert(id)
                if let nextCheck = state.nextCheck, nextCheck <= deadline { return (id, false) }
                state.nextCheck = deadline
                return (id, state.sleeping)
            }
            guard id != 0 else {
                continuation.resume(returning: .timedOut)
                return
            }
            var event = epoll_event()
            event.events = interest.rawValue | Self.oneShot
            event.data.u64 = id
            // The descriptor stays registered between waits; MOD re-arms it. A new socket (libpq
            // reconnecting to the next host, or a reused descriptor number) is not registered yet.
            var rc = epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, &event)
            if rc != 0 && errno == ENOENT {
                rc = epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event)
            }
            if rc != 0 {
                // A closed or invalid socket: report ready so the caller's libpq call sees the error.
                resume(id: id, with: .ready)
                return
            }
            if mustWake { wake() }
        }
    }

    /// Ends every wait of `owner` now, and every later one, as if its deadline had passed, until
    /// ``forget(owner:)``.
    func interrupt(owner: ObjectIdentifier) {
        let ended = state.withLock { state -> [Waiter] in
            state.interrupted.insert(owner)
            let ids = state.waiters.filter { $0.value.owner == owner }.map(\.key)
            return ids.compactMap { id in
                state.timed.remove(id)
                return state.waiters.removeValue(forKey: id)
            }
        }
        for waiter in ended { waiter.continuation.resume(returning: .timedOut) }
    }

    /// Forgets an owner that `interrupt` ended (its connection is gone).
    func forget(owner: ObjectIdentifier) {
        _ = state.withLock { $0.interrupted.remove(owner) }
    }

    /// Forgets a socket before libpq closes it, so a reused descriptor number starts clean.
    func deregister(fd: Int32) {
        guard fd >= 0 else { return }
        _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil)
    }

    private func resume(id: UInt64, with outcome: Outcome) {
        let waiter = state.withLock { state -> Waiter? in
            state.timed.remove(id)
            return state.waiters.removeValue(forKey: id)
        }
        waiter?.continuation.resume(returning: outcome)
    }

    private func wake() {
        var one: UInt64 = 1
        _ = Glibc.write(wakeFD, &one, 8)
    }

    private func run() {
        let capacity = 256
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: capacity)
        defer { events.deallocate() }
        var batch: [UnownedJob] = []
        while true {
            runJobs(&batch)
            let timeout = state.withLock { state -> Int32 in
                let timeout = state.timeoutMilliseconds()
                state.sleeping = timeout != 0
                return timeout
            }
            let count = epoll_wait(epollFD, events, Int32(capacity), timeout)
            state.withLock { $0.sleeping = false }
            if count < 0 {
                if errno == EINTR { continue }
                fatalError("epoll_wait failed: errno \(errno)")
            }
            for index in 0..<Int(count) {
                let id = events[index].data.u64
                if id == 0 {
                    var drained: UInt64 = 0
                    _ = Glibc.read(wakeFD, &drained, 8)
                } else {
                    resume(id: id, with: .ready)
                }
            }
            if state.withLock({ state in state.nextCheck.map { $0 <= .now } ?? false }) { expireDeadlines() }
        }
    }

    /// Runs queued jobs until none is left; a resumed task that prefers this executor lands here
    /// without a thread switch.
    private func runJobs(_ batch: inout [UnownedJob]) {
        while true {
            state.withLock { swap(&$0.jobs, &batch) }
            if batch.isEmpty { return }
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
            batch.removeAll(keepingCapacity: true)
        }
    }

    private func expireDeadlines() {
        let now = ContinuousClock.now
        let expired = state.withLock { state -> [Waiter] in
            var expired: [Waiter] = []
            var earliest: ContinuousClock.Instant?
            for id in state.timed {
                guard let waiter = state.waiters[id], let deadline = waiter.deadline else { continue }
                if deadline <= now {
                    state.timed.remove(id)
                    state.waiters.removeValue(forKey: id)
                    expired.append(waiter)
                } else if earliest.map({ deadline < $0 }) ?? true {
                    earliest = deadline
                }
            }
            state.nextCheck = earliest
            return expired
        }
        for waiter in expired { waiter.continuation.resume(returning: .timedOut) }
    }
}

extension PGConnection {
    /// A reactor thread, as an executor, for a task that drives a connection it does not hold
    /// yet (a connect): the one the next connection will watch, so that the connect is usually
    /// resumed where it waits. Such a task, and one that prefers an open connection's `executor`,
    /// never needs a thread of Swift's cooperative pool or of an event loop: a pool's own I/O
    /// goes on while those are busy with other work.
    public static var ioExecutor: any TaskExecutor { PGReactor.upcoming }
}

extension PGReactor {
    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let mustWake = state.withLock { state -> Bool in
            state.jobs.append(job)
            guard state.sleeping else { return false }
            state.sleeping = false
            return true
        }
        if mustWake { wake() }
    }
}
