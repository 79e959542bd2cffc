import Synchronization

/// Whether the HTTP client of one connection has closed its side. Set by `ClientHangUpHandler`
/// in the connection's pipeline; awaited by a request that must stop when nobody waits for its
/// answer any more (a borrow waiting in a pool's queue).
final class ClientHangUp: Sendable {
    private struct State {
        var hungUp = false
        var nextID = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    var hasHungUp: Bool { state.withLock { $0.hungUp } }

    /// The client closed its side (or the connection went away): wakes every waiter.
    func fire() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.hungUp else { return [] }
            state.hungUp = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the client hangs up, or as soon as the calling task is cancelled.
    func wait() async {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.hungUp || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// Runs `operation`, cancelling it when the client hangs up first. The connection stays
    /// usable for the client's next request (keep-alive), unlike reading the inbound stream to
    /// watch for its end.
    func cancellingOnHangUp<T: Sendable>(_ operation: () async throws -> T) async throws -> T {
        try await withoutActuallyEscaping(operation) { operation in
            let transfer = UnsafeOperation(operation: operation)
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    await self.wait()
                    return nil
                }
                group.addTask { try await transfer.operation() }
                while let result = try await group.next() {
                    group.cancelAll()
                    if let value = result { return value }
                    // The hang-up came first: the operation is cancelled; wait for it to end so
                    // that whatever it holds is given back before this returns.
                    while let late = try? await group.next() {
                        if let value = late { return value }
                    }
                    throw CancellationError()
                }
                throw CancellationError()
            }
        }
    }
}

/// A non-Sendable closure handed to a child task that ends before the closure's owner returns.
private struct UnsafeOperation<T>: @unchecked Sendable {
    let operation: () async throws -> T
}
