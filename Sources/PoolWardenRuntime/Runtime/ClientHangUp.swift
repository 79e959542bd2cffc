import Synchronization

/// Whether the HTTP client of one connection has closed its side. Set by the HTTP layer (a
/// handler in the connection's pipeline); a waiting borrow watches it so that it leaves the queue
/// when nobody waits for its answer any more (invariant 6), without costing a task of its own.
package final class ClientHangUp: Sendable {
    /// The hang-up watch of the HTTP connection the current request came in on, if any.
    @TaskLocal package static var current: ClientHangUp?

    private struct State {
        var hungUp = false
        var nextID = 0
        var callbacks: [Int: @Sendable () -> Void] = [:]
    }

    private let state = Mutex(State())

    package init() {}

    package var hasHungUp: Bool { state.withLock { $0.hungUp } }

    /// The client closed its side (or the connection went away): runs every callback once.
    package func fire() {
        let callbacks = state.withLock { state -> [@Sendable () -> Void] in
            guard !state.hungUp else { return [] }
            state.hungUp = true
            defer { state.callbacks = [:] }
            return Array(state.callbacks.values)
        }
        for callback in callbacks { callback() }
    }

    /// Runs `callback` when the client hangs up; at once (returning nil) if it has already.
    /// The returned id removes it again.
    package func onHangUp(_ callback: @escaping @Sendable () -> Void) -> Int? {
        let id = state.withLock { state -> Int? in
            guard !state.hungUp else { return nil }
            state.nextID += 1
            state.callbacks[state.nextID] = callback
            return state.nextID
        }
        if id == nil { callback() }
        return id
    }

    package func remove(_ id: Int) {
        _ = state.withLock { $0.callbacks.removeValue(forKey: id) }
    }
}
