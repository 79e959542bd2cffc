import CLibPQ
import Synchronization

/// The time limit of the operation running on a connection, checked by the reactor while the
/// operation waits for the server: no timer task per statement.
struct OperationLimit {
    enum Phase {
        /// No limit, or it has not passed.
        case armed
        /// The limit passed and the statement was cancelled; the connection closes at `deadline`
        /// (the limit plus the grace) if the statement still has not ended.
        case cancelled
        /// The grace passed too: the connection was closed.
        case closed
    }

    var deadline: ContinuousClock.Instant?
    var grace: Duration = .zero
    var phase = Phase.armed
}

extension PGConnection {
    /// Runs `body`, calls on this connection, under a time limit. A wait for the server that
    /// outlasts `limit` cancels the running statement (it then fails with SQLSTATE 57014, and the
    /// cancel has reached the server before this returns, so it cannot hit a later statement); one
    /// that outlasts `grace` more closes the connection, so that a server that stops answering
    /// cannot hold the caller forever. Returns what `body` did and whether the limit passed.
    public func withDeadline<T>(
        _ limit: Duration?,
        grace: Duration,
        _ body: () async throws -> T
    ) async -> (result: Result<T, any Error>, timedOut: Bool) {
        guard let limit else {
            do { return (.success(try await body()), false) } catch { return (.failure(error), false) }
        }
        self.limit.withLock { $0 = OperationLimit(deadline: .now.advanced(by: limit), grace: grace) }
        let result: Result<T, any Error>
        do { result = .success(try await body()) } catch { result = .failure(error) }
        let phase = self.limit.withLock { state -> OperationLimit.Phase in
            defer { state = OperationLimit() }
            return state.phase
        }
        return (result, phase != .armed)
    }

    /// Waits until the socket is ready for `interest`, enforcing the operation's time limit.
    func waitForSocket(_ interest: PGReactor.Interest) async {
        while true {
            let deadline = limit.withLock { $0.phase == .closed ? nil : $0.deadline }
            if await reactor.wait(fd: PQsocket(handle), for: interest, deadline: deadline) == .ready { return }
            let phase = limit.withLock { state -> OperationLimit.Phase in
                switch state.phase {
                case .armed:
                    state.phase = .cancelled
                    state.deadline = .now.advanced(by: state.grace)
                case .cancelled:
                    state.phase = .closed
                case .closed:
                    break
                }
                return state.phase
            }
            switch phase {
            case .cancelled:
                await cancel()
            case .closed:
                // The operation's next libpq call finds the socket shut down and fails.
                close()
                return
            case .armed:
                return
            }
        }
    }
}
