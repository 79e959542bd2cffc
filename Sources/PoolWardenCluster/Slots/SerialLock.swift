import DequeModule
import Synchronization

/// One holder at a time, first come first served, for a coordination session's connection: libpq
/// runs one statement at a time on it. A waiter that gives up (its task cancelled) leaves the line.
final class SerialLock: Sendable {
    private struct State {
        var held = false
        var waiters: Deque<(id: UInt64, continuation: CheckedContinuation<Bool, Never>)> = []
        var next: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Waits for the lock; false when the task was cancelled first (the lock is not held then).
    func acquire() async -> Bool {
        let id = state.withLock { state -> UInt64 in
            state.next += 1
            return state.next
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let granted = state.withLock { state -> Bool? in
                    if Task.isCancelled { return false }
                    if !state.held {
                        state.held = true
                        return true
                    }
                    state.waiters.append((id, continuation))
                    return nil
                }
                if let granted { continuation.resume(returning: granted) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            waiter?.resume(returning: false)
        }
    }

    func release() {
        let next = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard let next = state.waiters.popFirst() else {
                state.held = false
                return nil
            }
            return next.continuation
        }
        next?.resume(returning: true)
    }

    /// Takes the lock only if nobody holds it.
    func tryAcquire() -> Bool {
        state.withLock { state in
            guard !state.held else { return false }
            state.held = true
            return true
        }
    }
}
