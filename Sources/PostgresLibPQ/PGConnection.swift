#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CLibPQ
import Synchronization

/// One PostgreSQL connection driven through libpq in non-blocking mode: every wait for the server
/// is a suspension on `PGReactor`, never a blocked thread.
///
/// One call at a time: a second call while one runs fails with `.unsupported`. `cancel()` and
/// `close()` may be called from anywhere at any time.
public final class PGConnection: @unchecked Sendable {
    // Safety: `handle` is used by one operation at a time (enforced by `control.busy`); `close()`
    // only touches the socket while an operation runs, and the operation finishes the handle.
    let handle: OpaquePointer
    private let canceller: PGCanceller?
    private let control = Mutex(Control())
    /// The running operation's time limit (`withDeadline`).
    let limit = Mutex(OperationLimit())
    let secrets: [String]
    /// The thread that watches this connection's socket.
    let reactor: PGReactor

    /// The thread that watches every libpq socket, as an executor. A task that mostly talks to
    /// PostgreSQL and prefers it (`withTaskExecutorPreference`, `addTask(executorPreference:)`) is
    /// resumed on that thread directly, saving two thread switches per round trip.
    public var executor: any TaskExecutor { reactor }

    /// The server process serving this connection (`pg_stat_activity.pid`).
    public let backendPID: Int32
    /// As `PQserverVersion`: 150018 for 15.18.
    public let serverVersion: Int

    private struct Control {
        var busy = false
        var closed = false
        var closeRequested = false
        /// This side shut the socket for reading: what the server does after that cannot be seen.
        var blind = false
        /// The backend is known to have exited: libpq read its end of stream, or the socket
        /// kept in `exitWatch` did.
        var serverHungUp = false
        /// A duplicate of the socket, taken when PoolWarden hangs up or closes: PostgreSQL keeps
        /// its end open until the backend exits, so end-of-stream here shows the exit even after
        /// libpq has let go of its descriptor. -1 when there is nothing (left) to watch.
        var exitWatch: Int32 = -1
        /// `busy` belongs to ``PGConnection/checkIdle()``, which lets go within microseconds: a
        /// call starting meanwhile waits for it instead of failing.
        var idleCheck = false
    }

    private init(handle: OpaquePointer, secrets: [String], reactor: PGReactor) {
        self.handle = handle
        self.reactor = reactor
        self.secrets = secrets
        let server = "\(PQhost(handle).map { String(cString: $0) } ?? ""):\(PQport(handle).map { String(cString: $0) } ?? "")"
        self.canceller = PQgetCancel(handle).map { PGCanceller($0, server: server) }
        self.backendPID = PQbackendPID(handle)
        self.serverVersion = Int(PQserverVersion(handle))
    }

    deinit {
        let finished = control.withLock { $0.closed }
        if !finished { finish() }
        reactor.forget(owner: waitOwner)
        let watch = control.withLock { $0.exitWatch }
        if watch >= 0 {
            reactor.deregister(fd: watch)
            _ = Glibc.close(watch)
        }
    }

    /// Identifies this connection's waits on the reactor, so that ``abandon()`` can end them.
    var waitOwner: ObjectIdentifier { ObjectIdentifier(self) }

    // MARK: Connect

    /// Opens a connection. Throws `PGError` (`.connectFailed`, `.connectTimeout`) with libpq's
    /// message, passwords removed, or `CancellationError` when the task is cancelled.
    public static func connect(_ options: PGConnectOptions) async throws -> PGConnection {
        let secrets = options.secrets
        let pairs = options.keywordValues
        if pairs.contains(where: { $0.0.utf8.contains(0) || $0.1.utf8.contains(0) }) {
            throw PGError(kind: .connectFailed, message: "connection parameters contain a NUL byte", connectionUsable: false)
        }
        // PQconnectStartParams and PQconnectPoll resolve host names synchronously.
        let started = await PGBlocking.run { UnsafeHandle(startConnect(pairs)) }
        guard let handle = started.pointer else {
            throw PGError(kind: .connectFailed, message: "libpq could not allocate a connection", connectionUsable: false)
        }
        let socket = ConnectingSocket()
        let reactor = PGReactor.next()
        do {
            try await withTaskCancellationHandler {
                try await drive(handle, options: options, secrets: secrets, socket: socket, reactor: reactor)
            } onCancel: {
                socket.fd.withLock { fd in if fd >= 0 { _ = shutdown(fd, Int32(SHUT_RDWR)) } }
            }
        } catch {
            reactor.deregister(fd: PQsocket(handle))
            PQfinish(handle)
            if Task.isCancelled { throw CancellationError() }
            throw error
        }
        PQsetnonblocking(handle, 1)
        PQsetNoticeReceiver(handle, { _, _ in }, nil)
        return PGConnection(handle: handle, secrets: secrets, reactor: reactor)
    }

    private static func startConnect(_ pairs: [(String, String)]) -> OpaquePointer? {
        let keywords = pairs.map { strdup($0.0) }
        let values = pairs.map { strdup($0.1) }
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        var keywordPointers: [UnsafePointer<CChar>?] = keywords.map { UnsafePointer($0) } + [nil]
        var valuePointers: [UnsafePointer<CChar>?] = values.map { UnsafePointer($0) } + [nil]
        return keywordPointers.withUnsafeMutableBufferPointer { keys in
            valuePointers.withUnsafeMutableBufferPointer { vals in
                PQconnectStartParams(keys.baseAddress, vals.baseAddress, 1)
            }
        }
    }

    private static func drive(
        _ handle: OpaquePointer,
        options: PGConnectOptions,
        secrets: [String],
        socket: ConnectingSocket,
        reactor: PGReactor
    ) async throws {
        if PQstatus(handle) == CONNECTION_BAD {
            throw connectError(handle, secrets: secrets)
        }
        let timeout = options.connectTimeout ?? configuredTimeout(handle) ?? PGConnectOptions.defaultConnectTimeout
        let deadline = ContinuousClock.now.advanced(by: timeout)
        // libpq's protocol: behave as if the last poll asked to write, then follow what each poll says.
        var poll = PGRES_POLLING_WRITING
        while true {
            switch poll {
            case PGRES_POLLING_OK:
                return
            case PGRES_POLLING_FAILED:
                throw connectError(handle, secrets: secrets)
            default:
                let fd = PQsocket(handle)
                socket.fd.withLock { $0 = fd }
                if Task.isCancelled { throw CancellationError() }
                let interest: PGReactor.Interest = poll == PGRES_POLLING_READING ? .read : .write
                if await reactor.wait(fd: fd, for: interest, deadline: deadline) == .timedOut {
                    throw PGError(
                        kind: .connectTimeout,
                        message: "connecting timed out after \(timeout.formattedSeconds) (\(describeTarget(handle)))",
                        connectionUsable: false
                    )
                }
            }
            let target = UnsafeHandle(handle)
            poll = await PGBlocking.run { PQconnectPoll(target.pointer) }
        }
    }

    private static func configuredTimeout(_ handle: OpaquePointer) -> Duration? {
        guard let options = PQconninfo(handle) else { return nil }
        defer { PQconninfoFree(options) }
        var option = options
        while let keyword = option.pointee.keyword {
            if String(cString: keyword) == "connect_timeout", let value = option.pointee.val,
               let seconds = Int(String(cString: value)), seconds > 0 {
                return .seconds(max(seconds, 2))
            }
            option += 1
        }
        return nil
    }

    private static func describeTarget(_ handle: OpaquePointer) -> String {
        let host = PQhost(handle).map { String(cString: $0) } ?? "?"
        let port = PQport(handle).map { String(cString: $0) } ?? "?"
        return "host \(host), port \(port)"
    }

    private static func connectError(_ handle: OpaquePointer, secrets: [String]) -> PGError {
        let message = PQerrorMessage(handle).map { String(cString: $0) } ?? "connection failed"
        return PGError(
            kind: .connectFailed,
            message: PGRedaction.redact(message.trimmingTrailingNewlines, secrets: secrets),
            connectionUsable: false
        )
    }

    // MARK: State

    /// libpq's transaction status; meaningful between calls.
    public var transactionStatus: PGTransactionStatus {
        if control.withLock({ $0.closed }) { return .unknown }
        switch PQtransactionStatus(handle) {
        case PQTRANS_IDLE: return .idle
        case PQTRANS_ACTIVE: return .active
        case PQTRANS_INTRANS: return .inTransaction
        case PQTRANS_INERROR: return .inFailedTransaction
        default: return .unknown
        }
    }

    /// False once the connection was closed here or found broken.
    public var isUsable: Bool {
        !control.withLock { $0.closed || $0.closeRequested } && PQstatus(handle) == CONNECTION_OK
    }

    // MARK: Operations

    /// Marks the start of a call; throws if another runs or the connection is closed.
    func beginOperation() throws {
        while true {
            let began = try control.withLock { control throws(PGError) -> Bool in
                if control.closed || control.closeRequested {
                    throw PGError(kind: .connectionClosed, message: "the connection is closed", connectionUsable: false)
                }
                if control.busy {
                    // An idle check holds the connection for a few system calls, never a wait.
                    if control.idleCheck { return false }
                    throw PGError(kind: .unsupported, message: "another statement is running on this connection", connectionUsable: true)
                }
                control.busy = true
                return true
            }
            if began { return }
            sched_yield()
        }
    }

    /// Ends a call; finishes the connection when `close()` came in meanwhile.
    func endOperation() {
        let finishNow = control.withLock { control -> Bool in
            control.busy = false
            control.idleCheck = false
            guard control.closeRequested, !control.closed else { return false }
            control.closed = true
            return true
        }
        if finishNow { finish() }
    }

    var closeWasRequested: Bool { control.withLock { $0.closeRequested } }

    /// Looks, without waiting, at what the server sent while the connection sat idle. False when
    /// that shows the connection is gone (the server restarted, the backend was terminated: its
    /// FATAL message and the end of the stream are waiting in the socket) or it is closed or busy;
    /// true says only that nothing showed it dead. Costs one `recv` when nothing arrived.
    public func probe() -> Bool {
        guard (try? beginOperation()) != nil else { return false }
        defer { endOperation() }
        return readWhatArrived()
    }

    /// Looks, without waiting and without disturbing a call that starts meanwhile, at whether
    /// the server closed this idle connection (a restart, a shutdown, `pg_terminate_backend`):
    /// libpq reads what arrived, and the server's goodbye or the end of the stream marks the
    /// connection broken. False only when it is found broken; a connection in use is skipped.
    /// A host that vanishes without closing the connection is not seen here.
    public func checkIdle() -> Bool {
        let owned = control.withLock { control -> Bool in
            guard !control.busy, !control.closed, !control.closeRequested else { return false }
            control.busy = true
            control.idleCheck = true
            return true
        }
        guard owned else { return true }
        defer { endOperation() }
        return readWhatArrived()
    }

    /// Lets libpq read, without waiting, what the server sent to this idle connection; false when
    /// that shows it gone. The caller holds the connection.
    private func readWhatArrived() -> Bool {
        let socket = PQsocket(handle)
        var byte: UInt8 = 0
        // Each round lets libpq read what is there; a terminated backend's FATAL message comes
        // first and its end of stream right after, which libpq sees only on its next read.
        for _ in 0..<4 {
            guard PQstatus(handle) == CONNECTION_OK, socket >= 0 else { return false }
            let peeked = recv(socket, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
            if peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { return true }
            // Data, the end of the stream or a socket error: libpq reads it, and marks the
            // connection bad itself on the end or the error, so that whoever holds it next sees
            // it broken too.
            guard PQconsumeInput(handle) == 1, peeked > 0 else { return false }
            drainNotifications()
        }
        return PQstatus(handle) == CONNECTION_OK
    }

    /// Asks the server to cancel the running statement. Returns whether the request was delivered
    /// within `timeout`; the statement then fails with SQLSTATE 57014. Never waits longer than
    /// `timeout`, even when the server has stopped answering (see ``PGCanceller``).
    @discardableResult
    public func cancel(timeout: Duration = PGConnection.cancelTimeout) async -> Bool {
        guard let canceller else { return false }
        return await canceller.cancel(timeout: timeout)
    }

    /// How long a cancel request may take before the caller stops waiting for it.
    public static let cancelTimeout: Duration = .seconds(2)

    /// Closes the connection. A statement running meanwhile is cut off: its socket is shut down, it
    /// fails with `.connectionClosed`, and the server rolls back any open transaction.
    public func close() {
        enum Step { case none, finish, interrupt }
        let step = control.withLock { control -> Step in
            if control.closed || control.blind { return .none }
            if control.busy {
                control.closeRequested = true
                control.blind = true
                return .interrupt
            }
            control.closed = true
            return .finish
        }
        switch step {
        case .none: break
        case .finish: finish()
        case .interrupt:
            let fd = PQsocket(handle)
            if fd >= 0 { _ = shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    /// Hangs up on a running statement without cutting it off: only this side's half of the
    /// socket is shut. A backend watching its client (`client_connection_check_interval`) exits
    /// when it sees that, even in a loop that ignores cancels; its goodbye then ends the running
    /// call. No-op when idle.
    func hangUp() {
        control.withLock { control in
            guard control.busy, !control.closed, !control.closeRequested else { return }
            let socket = PQsocket(handle)
            guard socket >= 0 else { return }
            control.closeRequested = true
            if control.exitWatch < 0 { control.exitWatch = dup(socket) }
            _ = shutdown(socket, Int32(SHUT_WR))
        }
    }

    /// Closes the connection and waits until its backend process has exited (and left
    /// `pg_stat_activity`), or `timeout` passes, so that counts of backends seen by PostgreSQL
    /// agree with the caller's. Returns whether the backend was seen to exit; when it was not,
    /// ``waitForBackendExit(timeout:)`` goes on watching.
    ///
    /// An idle connection says goodbye (libpq's Terminate). A running statement is hung up on
    /// (``hangUp()``) rather than cut off, since a backend busy in a loop would not notice a
    /// socket closed outright; if the backend stays past `timeout`, the statement is abandoned
    /// (it fails at once) while the socket stays watched.
    @discardableResult
    public func close(waitingForServer timeout: Duration) async -> Bool {
        enum Step { case finish, running, closed }
        let step = control.withLock { control -> Step in
            if control.closed { return .closed }
            if control.busy { return .running }
            control.closed = true
            return .finish
        }
        switch step {
        case .finish:
            finish()
        case .running:
            hangUp()
        case .closed:
            break
        }
        let exited = await waitForBackendExit(timeout: timeout)
        if !exited, step == .running { abandon() }
        return exited
    }

    /// Waits up to `timeout` for the backend of a closed (or hung-up) connection to exit; true
    /// once it has. False when it still runs, or when the connection was cut off by `close()`,
    /// after which nothing shows its end.
    public func waitForBackendExit(timeout: Duration) async -> Bool {
        let watch = control.withLock { control -> Int32? in
            control.serverHungUp ? nil : control.exitWatch
        }
        guard let watch else { return true }
        guard watch >= 0 else { return false }
        let deadline = ContinuousClock.now.advanced(by: timeout)
        var byte: UInt8 = 0
        while await reactor.wait(fd: watch, for: .read, deadline: deadline) == .ready {
            let count = recv(watch, &byte, 1, Int32(MSG_DONTWAIT))
            guard count == 0 || (count < 0 && errno != EAGAIN && errno != EINTR) else { continue }
            let closeHere = control.withLock { control -> Bool in
                guard control.exitWatch == watch else { return false }
                control.exitWatch = -1
                control.serverHungUp = true
                return true
            }
            if closeHere {
                reactor.deregister(fd: watch)
                _ = Glibc.close(watch)
            }
            return true
        }
        return control.withLock { $0.serverHungUp }
    }

    /// Frees libpq's connection; the caller has marked it closed. Keeps a duplicate of the socket
    /// (unless libpq already saw the server hang up) so the backend's exit can be watched.
    private func finish() {
        let socket = PQsocket(handle)
        control.withLock { control in
            if socket < 0 {
                // libpq drops its socket when it reads the server's end of stream.
                control.serverHungUp = control.serverHungUp || (PQstatus(handle) == CONNECTION_BAD && !control.blind)
            } else if control.exitWatch < 0, !control.blind {
                control.exitWatch = dup(socket)
            }
        }
        // Deregister only a socket libpq still holds: a closed descriptor's number may already
        // belong to another connection.
        reactor.deregister(fd: socket)
        PQfinish(handle)
    }

    /// Makes the session as a fresh connection would be, in one round trip: rolls back an open or
    /// failed transaction, then (with `discardAll`) `DISCARD ALL` — role and session
    /// authorization, every setting, temp tables, prepared statements, cursors, LISTEN channels,
    /// advisory locks — then `statement` if given. Throws the first failure.
    public func reset(discardAll: Bool = true, statement: String? = nil) async throws {
        var statements: [PGStatement] = []
        switch transactionStatus {
        case .inTransaction, .inFailedTransaction:
            statements.append(PGStatement("ROLLBACK"))
        case .unknown:
            throw PGError(kind: .connectionLost, message: "the connection is broken", connectionUsable: false)
        case .active, .idle:
            break
        }
        statements += Self.resetStatements(discardAll: discardAll, statement: statement)
        for outcome in try await pipeline(statements) { _ = try outcome.get() }
    }

    /// The reset PgBouncer runs by default, and the one a pool runs unless told otherwise.
    public static let discardAll = "DISCARD ALL"

    /// What a reset runs on an idle session: `DISCARD ALL` (unless switched off), then the
    /// operator's `statement`.
    public static func resetStatements(discardAll: Bool, statement: String?) -> [PGStatement] {
        (discardAll ? [PGStatement(Self.discardAll)] : []) + (statement.map { [PGStatement($0)] } ?? [])
    }
}

/// The socket a connect currently waits on, so that cancelling the task can cut it.
private final class ConnectingSocket: Sendable {
    let fd = Mutex<Int32>(-1)
}

/// A libpq pointer handed to a blocking helper thread while its owner waits for the result.
struct UnsafeHandle: @unchecked Sendable {
    let pointer: OpaquePointer?
    init(_ pointer: OpaquePointer?) { self.pointer = pointer }
}

extension Duration {
    var formattedSeconds: String {
        let (seconds, attoseconds) = components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : "\(milliseconds)ms"
    }
}
