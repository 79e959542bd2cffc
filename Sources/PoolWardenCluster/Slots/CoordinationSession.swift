import Logging
import PostgresLibPQ
import Synchronization

/// One replica's session with one database server, never lent to callers: the advisory locks it
/// holds are the slots of the connections this replica has open there. PostgreSQL releases them
/// all when the session ends, which is how a dead replica's slots come free without anyone's help.
///
/// Every statement runs under ``SerialLock`` with a deadline; ``generation`` counts connects, so
/// that a lock taken on a session that has since been lost is known to be gone.
final class CoordinationSession: Sendable {
    enum Link: Sendable {
        case connected(PGConnection, generation: UInt64)
        case down(String, generation: UInt64)

        var generation: UInt64 {
            switch self {
            case .connected(_, let generation), .down(_, let generation): generation
            }
        }
    }

    /// `host:port/database` for logs, status and readiness: never the conninfo (it may hold a
    /// password).
    let label: String
    private let options: PGConnectOptions
    private let lock = SerialLock()
    private let link: Mutex<Link>

    /// How long one statement may take before the session is taken to be lost.
    static let statementDeadline: Duration = .seconds(2)
    static let connectTimeout: Duration = .seconds(3)

    init(label: String, options: PGConnectOptions) {
        self.label = label
        self.options = options
        link = Mutex(.down("not connected yet", generation: 0))
    }

    var current: Link { link.withLock { $0 } }

    var isConnected: Bool {
        if case .connected = current { return true }
        return false
    }

    /// Connects when down; returns the generation connected, nil when the connect failed. Locks
    /// of earlier generations are gone: PostgreSQL dropped them with the old session.
    func connect() async -> UInt64? {
        guard await lock.acquire() else { return nil }
        defer { lock.release() }
        if case .connected(_, let generation) = current { return generation }
        do {
            let pg = try await PGConnection.connect(options)
            return link.withLock { link -> UInt64 in
                let generation = link.generation + 1
                link = .connected(pg, generation: generation)
                return generation
            }
        } catch {
            let message = (error as? PGError).map { PGRedaction.redact($0.message, secrets: options.password.map { [$0] } ?? []) }
                ?? "the connect was cancelled"
            link.withLock { link in
                if case .down(_, let generation) = link { link = .down(message, generation: generation) }
            }
            return nil
        }
    }

    /// Runs `body` on the connection of generation `expected` (any when nil). A failure or a
    /// passed deadline marks the session down: whether the statement took effect is unknown, and
    /// only a new session makes the locks known again.
    func run<T: Sendable>(
        expecting expected: UInt64? = nil,
        _ body: @Sendable (PGConnection, UInt64) async throws -> T
    ) async -> Result<T, SessionFailure> {
        guard await lock.acquire() else { return .failure(.unavailable("cancelled")) }
        defer { lock.release() }
        guard case .connected(let pg, let generation) = current else {
            if case .down(let why, _) = current { return .failure(.unavailable(why)) }
            return .failure(.unavailable("not connected"))
        }
        if let expected, expected != generation { return .failure(.unavailable("the session was replaced")) }
        let (result, timedOut) = await pg.withDeadline(Self.statementDeadline, grace: .seconds(1)) {
            try await body(pg, generation)
        }
        switch result {
        case .success(let value) where !timedOut:
            return .success(value)
        case .success:
            markDown("a statement outlasted \(Self.statementDeadline)", generation: generation)
        case .failure(let error):
            markDown(timedOut ? "a statement outlasted \(Self.statementDeadline)" : "\(error)", generation: generation)
        }
        return .failure(.lost)
    }

    /// Looks at the idle session without waiting: a terminated backend's goodbye, or the end of
    /// the stream, shows at once. Skipped (true) while a statement runs.
    func looksAlive() -> Bool {
        guard lock.tryAcquire() else { return true }
        defer { lock.release() }
        guard case .connected(let pg, let generation) = current else { return false }
        if pg.checkIdle() { return true }
        markDown("the server ended the session", generation: generation)
        return false
    }

    /// The session is gone (or no longer trusted): close it; its locks die with it.
    func markDown(_ why: String, generation: UInt64) {
        let closing = link.withLock { link -> PGConnection? in
            guard case .connected(let pg, let current) = link, current == generation else { return nil }
            link = .down(why, generation: current)
            return pg
        }
        closing?.close()
    }

    func close() {
        let closing = link.withLock { link -> PGConnection? in
            guard case .connected(let pg, let generation) = link else { return nil }
            link = .down("closed", generation: generation)
            return pg
        }
        closing?.close()
    }

    enum SessionFailure: Error, Sendable {
        /// Not connected; nothing was sent.
        case unavailable(String)
        /// The session broke or froze during the statement and is now down.
        case lost
    }
}
