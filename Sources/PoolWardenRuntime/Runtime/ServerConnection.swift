import PoolCore
import PostgresLibPQ
import Synchronization

/// One open server connection as the registry holds it: the libpq connection plus what the runtime
/// must know about it beyond PoolCore's view.
///
/// It tracks the one operation that may run on the connection at a time, so that a close can
/// cancel a running statement and wait until the operation has let go of the connection before the
/// slot is reported closed (and counted free against `max` and the server budget).
final class ServerConnection: Sendable {
    let pg: PGConnection
    /// The pool it was opened for.
    let pool: PoolID
    /// `poolwarden:<pool>`: the session's application_name whenever it is not leased.
    let baseApplicationName: String
    private let state = Mutex(State())

    private struct State {
        var running = false
        /// Fired when the running operation ends.
        var operationEnded = CompletionSignal()
        /// The application_name the runtime set for a lease, nil while it is the base one.
        var tag: String?
    }

    init(_ pg: PGConnection, pool: PoolID, baseApplicationName: String) {
        self.pg = pg
        self.pool = pool
        self.baseApplicationName = baseApplicationName
    }

    var backendPID: Int32 { pg.backendPID }

    /// Whether an operation (a statement, a reset, a check) is running right now.
    var isRunning: Bool { state.withLock { $0.running } }

    /// The lease tag currently set as application_name, if any.
    var tag: String? { state.withLock { $0.tag } }

    /// libpq's transaction status between operations. Read only while the connection is leased,
    /// under the registry's lock: PoolCore closes no leased connection, so no close frees it meanwhile.
    var transactionStatus: PGTransactionStatus { pg.transactionStatus }

    /// False once the connection was closed or found broken; read like `transactionStatus`.
    var isUsable: Bool { pg.isUsable }

    /// Runs one operation on the connection. Callers guarantee one at a time: the registry marks a
    /// lease busy, and PoolCore never resets, checks or closes a connection that is leased.
    ///
    /// With a `deadline`, an operation still running when it passes has its statement cancelled;
    /// one that does not end `grace` later has its connection closed, so that no server that stops
    /// answering can hold a lease, a reset or a check forever.
    func run<T: Sendable>(
        deadline: Duration? = nil,
        grace: Duration = ServerConnection.statementGrace,
        _ body: (PGConnection) async throws -> T
    ) async -> (result: Result<T, any Error>, timedOut: Bool) {
        state.withLock { state in
            state.running = true
            state.operationEnded = CompletionSignal()
        }
        defer { finishOperation() }
        return await pg.withDeadline(deadline, grace: grace) { try await body(pg) }
    }

    private func finishOperation() {
        let ended = state.withLock { state -> CompletionSignal in
            state.running = false
            return state.operationEnded
        }
        ended.fire()
    }

    /// A reset put application_name back to the startup value.
    func forgetTag() {
        state.withLock { $0.tag = nil }
    }

    /// Sets application_name for a lease (`tag`) or back to the base name (nil).
    func setApplicationName(_ tag: String?, deadline: Duration) async throws {
        let name = tag ?? baseApplicationName
        let (result, _) = await run(deadline: deadline) { pg in
            try await pg.query("SELECT set_config('application_name', $1, false)", [name])
        }
        _ = try result.get()
        state.withLock { $0.tag = tag }
    }

    /// How long past its time limit a statement may take to answer a cancel before its connection
    /// is closed under it: what a caller waits at most beyond `timeout_ms`.
    static let statementGrace: Duration = .seconds(3)
    /// How long a close waits for the backend to exit before it says it could not tell.
    static let exitWait: Duration = .seconds(3)

    /// Closes the connection. Returns true once its backend has exited, false when it may still run
    /// (it ignored the cancel and did not notice the hang-up, or the server stopped answering):
    /// the caller then keeps counting it and terminates it another way.
    ///
    /// A running statement is cancelled first, since a backend that is cut off in the middle of a
    /// statement such as `pg_sleep` runs on until the statement ends; every step is bounded.
    func close() async -> Bool {
        let ended = state.withLock { $0.running ? $0.operationEnded : nil }
        guard let ended else {
            return await pg.close(waitingForServer: Self.exitWait)
        }
        await pg.cancel()
        _ = await ended.wait(timeout: .seconds(1))
        // Idle by now: a goodbye. Still running: a hang-up, and the socket shut if the backend
        // stays, which ends the operation promptly.
        let exited = await pg.close(waitingForServer: Self.exitWait)
        _ = await ended.wait(timeout: .seconds(2))
        return exited
    }
}
