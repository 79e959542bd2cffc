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
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
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

    /// libpq's transaction status between operations. Read under the lock that `closeNow()`
    /// takes, so that a close from another task cannot free the connection under the read.
    var transactionStatus: PGTransactionStatus { state.withLock { _ in pg.transactionStatus } }

    /// False once the connection was closed or found broken; read like `transactionStatus`.
    var isUsable: Bool { state.withLock { _ in pg.isUsable } }

    /// Runs one operation on the connection. Callers guarantee one at a time: the registry marks a
    /// lease busy, and PoolCore never resets, checks or closes a connection that is leased.
    ///
    /// With a `deadline`, an operation still running when it passes has its statement cancelled;
    /// one that does not end `grace` later has its connection closed, so that no server that stops
    /// answering can hold a lease, a reset or a check forever.
    func run<T: Sendable>(
        deadline: Duration? = nil,
        grace: Duration = .seconds(5),
        _ body: (PGConnection) async throws -> T
    ) async -> (result: Result<T, any Error>, timedOut: Bool) {
        state.withLock { $0.running = true }
        defer { finishOperation() }
        return await pg.withDeadline(deadline, grace: grace) { try await body(pg) }
    }

    /// Closes at once: a statement running in the driver is cut off (the driver frees the
    /// connection when the statement has let go of it); otherwise the connection is freed now.
    private func closeNow() {
        state.withLock { _ in pg.close() }
    }

    private func finishOperation() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.running = false
            defer { state.idleWaiters = [] }
            return state.idleWaiters
        }
        for waiter in waiters { waiter.resume() }
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

    /// Closes the connection: a running statement is cancelled first (a socket shut down under a
    /// statement such as `pg_sleep` would leave its backend running until the statement ends), then
    /// the connection is closed and this returns once the running operation has let go of it.
    func close() async {
        guard isRunning else {
            // Reported closed only once the backend has exited, so that pool and server budget
            // counts never run ahead of what pg_stat_activity shows.
            await pg.close(waitingForServer: .seconds(2))
            return
        }
        await pg.cancel()
        closeNow()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { state -> Bool in
                if !state.running { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }
}
