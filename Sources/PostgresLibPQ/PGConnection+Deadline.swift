import CLibPQ
import Synchronization

/// The time limit of the operation running on a connection, checked by the reactor while the
/// operation waits for the server: no timer task per statement.
struct OperationLimit {
    enum Phase {
        /// No limit, or it has not passed.
        case armed
        /// The limit passed and the statement was cancelled; PoolWarden hangs up at `deadline`
        /// (the limit plus the grace) if the statement still has not ended.
        case cancelled
        /// The grace passed too: PoolWarden hung up (``PGConnection/hangUp()``), and the socket is
        /// shut entirely at `deadline` if the backend has not left by then.
        case hungUp
        /// The connection was cut off.
        case closed
    }

    var deadline: ContinuousClock.Instant?
    var grace: Duration = .zero
    var phase = Phase.armed

    /// How long after hanging up the backend may take to exit before the socket is shut: a
    /// backend that watches its client sees the hang-up within a second.
    static let exitWait: Duration = .seconds(2)
}

extension PGConnection {
    /// Runs `body`, calls on this connection, under a time limit. A wait for the server that
    /// outlasts `limit` cancels the running statement (it then fails with SQLSTATE 57014, and the
    /// cancel has reached the server before this returns, so it cannot hit a later statement); one
    /// that outlasts `grace` more hangs up on the backend, and one that outlasts
    /// `OperationLimit.exitWait` after that closes the connection: a statement that ignores its
    /// cancel, or a server that stops answering, holds the caller at most `limit + grace +
    /// exitWait`. Returns what `body` did and whether the limit passed.
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
    /// Throws once the operation was abandoned (``abandon()``, or its limit's last stage).
    func waitForSocket(_ interest: PGReactor.Interest) async throws {
        while true {
            let deadline = try limit.withLock { state throws(PGError) -> ContinuousClock.Instant? in
                if state.phase == .closed { throw Self.abandoned }
                return state.deadline
            }
            if await reactor.wait(fd: PQsocket(handle), for: interest, deadline: deadline, owner: waitOwner) == .ready { return }
            let phase = limit.withLock { state -> OperationLimit.Phase? in
                if state.phase == .closed { return .closed }
                // Woken early (an interrupt): nothing is due yet.
                guard let deadline = state.deadline, deadline <= .now else { return nil }
                switch state.phase {
                case .armed:
                    state.phase = .cancelled
                    state.deadline = .now.advanced(by: state.grace)
                case .cancelled:
                    state.phase = .hungUp
                    state.deadline = .now.advanced(by: OperationLimit.exitWait)
                case .hungUp:
                    state.phase = .closed
                case .closed:
                    break
                }
                return state.phase
            }
            switch phase {
            case .cancelled:
                await cancel()
            case .hungUp:
                // The backend's goodbye, once it leaves, ends the wait on the socket.
                hangUp()
            case .closed:
                throw Self.abandoned
            case .armed, nil:
                continue
            }
        }
    }

    /// Stops the running operation at once without touching the socket: its wait ends and it
    /// fails with `.connectionClosed`, and the connection closes when it lets go. The socket stays
    /// watched, so the backend's exit can still be seen (``waitForBackendExit(timeout:)``).
    func abandon() {
        limit.withLock { $0.phase = .closed }
        reactor.interrupt(owner: waitOwner)
    }

    static let abandoned = PGError(kind: .connectionClosed, message: "the connection was closed while the statement ran", connectionUsable: false)
}
