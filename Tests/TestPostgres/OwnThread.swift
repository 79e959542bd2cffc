import Foundation
import Testing

/// Runs a test on a thread of its own instead of Swift's cooperative pool.
///
/// The pool has one thread per core (two on the CI machine) and is shared by every test of the
/// run and by the services the tests start in process. A synchronous test that computes for
/// seconds (100,000 random PoolCore steps) or blocks (waitpid on a child process) holds one of
/// those threads all that time; two of them at once stopped every in-process service, and borrows
/// answered 503 although their connections were ready (issue 12). On a thread of its own such a
/// test only takes its share of the CPU, like any other process.
public struct OwnThread: TestTrait, SuiteTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func scopeProvider(for test: Test, testCase: Test.Case?) -> Self? { self }

    public func provideScope(
        for test: Test,
        testCase: Test.Case?,
        performing function: @Sendable () async throws -> Void
    ) async throws {
        guard testCase != nil else { return try await function() }
        let executor = ThreadExecutor(name: "test " + String(test.name.prefix(10)))
        defer { executor.finish() }
        try await withTaskExecutorPreference(executor) { try await function() }
    }
}

extension Trait where Self == OwnThread {
    /// See ``OwnThread``.
    public static var ownThread: Self { OwnThread() }
}

/// A task executor backed by one plain thread, which ends once the executor is finished and its
/// queue is empty.
final class ThreadExecutor: TaskExecutor, @unchecked Sendable {
    // Safety: `jobs` and `finished` are only touched with `condition` locked.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var finished = false

    init(name: String) {
        // Named from inside: a name given before the start does not reach the OS thread, which
        // thread dumps show.
        Thread.detachNewThread { [self] in
            Thread.current.name = name
            run()
        }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        let late = finished
        if !late {
            jobs.append(job)
            condition.signal()
        }
        condition.unlock()
        // A job after the test ended (a task that outlived it): the thread is gone or going.
        if late { Thread.detachNewThread { [self] in job.runSynchronously(on: asUnownedTaskExecutor()) } }
    }

    func finish() {
        condition.lock()
        finished = true
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty && !finished { condition.wait() }
            if jobs.isEmpty {
                condition.unlock()
                return
            }
            let batch = jobs
            jobs = []
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
        }
    }
}
