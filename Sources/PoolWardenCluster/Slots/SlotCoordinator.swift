import Logging
import PoolCore
import PoolWardenRuntime
import PostgresLibPQ
import Synchronization

/// The cluster's global caps, held by PostgreSQL: before a replica opens a server connection it
/// takes a free slot of the pool (`0..<max`) and one of the server budget, each a session-level
/// advisory lock of its coordination session with that server; it gives them back once the
/// connection's backend has exited. Whatever the replicas do, no more connections than slots
/// exist; a replica that dies takes its session, and so its slots, with it.
///
/// When a session is lost, its locks are gone at once, so the replica connects again and takes
/// a slot for each connection it keeps (the same number if still free); connections that get
/// none are retired through the registry (``AdmissionHolder/slotsLost(_:)``). Until the
/// session is back, nothing new is opened on that server and readiness says why.
public final class SlotCoordinator: ConnectionAdmission {
    struct Lock: Sendable, Hashable {
        var key: SlotKey
        var slot: Int32
    }

    struct Holding: Sendable {
        var session: String
        var generation: UInt64
        var locks: [Lock]
    }

    struct State: Sendable {
        var sessions: [String: CoordinationSession] = [:]
        var holdings: [ConnectionID: Holding] = [:]
        /// The current cap of each key, from the last admission or resize.
        var limits: [SlotKey: Int] = [:]
        var recovering: Set<String> = []
        weak var holder: (any AdmissionHolder)?
        /// When a connect of this replica last found no slot of the key: it wants one.
        var wants: [SlotKey: ContinuousClock.Instant] = [:]
        /// Want locks held, by session and generation.
        var wantLocks: [String: (generation: UInt64, keys: Set<SlotKey>)] = [:]
        /// While another replica wants a key: how many slots of it this one may hold (one more
        /// than the fewest a wanting replica holds), so that none starves.
        var restraints: [SlotKey: Int] = [:]
        var monitor: Task<Void, Never>?
        var closed = false
    }

    let settings: ClusterSettings
    let logger: Logger
    let metrics = ClusterMetrics()
    let state = Mutex(State())

    /// How often idle sessions are looked at (a terminated session shows at once), and how many of
    /// those ticks pass between statements that prove the server still answers.
    static let watchInterval: Duration = .milliseconds(250)
    static let heartbeatTicks = 8

    public init(settings: ClusterSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    public func bind(_ registry: any AdmissionHolder) {
        state.withLock { $0.holder = registry }
    }

    public func admit(_ request: AdmissionRequest) async -> AdmissionDecision {
        // The budget first: a pool slot taken while the server is full would be given back anyway.
        let wanted = (request.budget.map { [(SlotKey(.server, $0.label), $0.max)] } ?? []) + [(SlotKey(.pool, request.pool), request.poolMax)]
        guard let (key, session) = session(conninfo: request.conninfo, password: request.password) else { return .unavailable("the coordinator is shut down") }
        state.withLock { state in
            for (slotKey, max) in wanted { state.limits[slotKey] = max }
        }
        if !session.isConnected {
            guard await session.connect() != nil else {
                return .unavailable("no coordination session with \(session.label): \(downReason(session))")
            }
            logger.info("coordination session connected", metadata: ["server": "\(session.label)"])
        }
        let id = request.connection
        let outcome = await session.run { pg, generation -> String? in
            var taken: [Lock] = []
            for (slotKey, max) in wanted {
                let held = self.heldSlots(session: key, slotKey: slotKey)
                let restraint = self.state.withLock { $0.restraints[slotKey] }
                guard restraint.map({ held.count < $0 }) ?? true,
                      let slot = try await Self.tryLock(pg, slotKey, candidates: Self.free(below: max, held: held))
                else {
                    try await Self.unlock(pg, taken)
                    try await self.want(slotKey, pg, session: key, generation: generation)
                    self.metrics.slotWait(slotKey.description)
                    if slotKey.kind == .server { self.makeRoom(onServer: slotKey, for: SlotKey(.pool, request.pool), session: key) }
                    return "every slot of \(slotKey) (\(max)) is held, or this replica holds its share while others wait"
                }
                taken.append(Lock(key: slotKey, slot: slot))
            }
            self.state.withLock { state in
                state.holdings[id] = Holding(session: key, generation: generation, locks: taken)
            }
            return nil
        }
        switch outcome {
        case .success(nil): return .admitted
        case .success(let why?): return .unavailable(why)
        case .failure(.unavailable(let why)): return .unavailable("no coordination session with \(session.label): \(why)")
        case .failure(.lost):
            recoverSoon(key)
            return .unavailable("the coordination session with \(session.label) was lost")
        }
    }

    public func release(_ connection: ConnectionID) async {
        guard let holding = state.withLock({ $0.holdings[connection] }), let session = state.withLock({ $0.sessions[holding.session] }) else {
            return
        }
        let result = await session.run(expecting: holding.generation) { pg, _ in
            try await Self.unlock(pg, holding.locks)
        }
        // Unlocked, or the session that held the locks is gone and took them with it: either way
        // they are free. A holding moved to a new session meanwhile is released there.
        let again = state.withLock { state -> Holding? in
            guard let now = state.holdings[connection] else { return nil }
            if now.generation == holding.generation {
                state.holdings[connection] = nil
                return nil
            }
            return now
        }
        if case .failure(.lost) = result { recoverSoon(holding.session) }
        if again != nil { await release(connection) }
    }

    public func limitsChanged(pool: String?, max: Int?, budget: AdmissionRequest.Budget?) {
        var changes: [(SlotKey, Int)] = []
        if let pool, let max { changes.append((SlotKey(.pool, pool), max)) }
        if let budget { changes.append((SlotKey(.server, budget.label), budget.max)) }
        state.withLock { state in
            for (key, max) in changes { state.limits[key] = max }
        }
        Task(executorPreference: PGConnection.ioExecutor) {
            for (key, max) in changes { await self.fit(key, max: max) }
        }
    }

    public func prepare(conninfo: String, password: String?) async {
        guard let (_, session) = session(conninfo: conninfo, password: password), !session.isConnected else { return }
        if await session.connect() != nil {
            logger.info("coordination session connected", metadata: ["server": "\(session.label)"])
        } else {
            logger.warning("no coordination session", metadata: ["server": "\(session.label)", "error": "\(downReason(session))"])
        }
    }

    public func problems() -> [String] {
        let sessions = state.withLock { Array($0.sessions.values) }
        return sessions.filter { !$0.isConnected }.map { "no coordination session with \($0.label): \(downReason($0))" }.sorted()
    }

    public func shutdown() async {
        let (sessions, monitor) = state.withLock { state -> ([CoordinationSession], Task<Void, Never>?) in
            state.closed = true
            defer { state.monitor = nil }
            return (Array(state.sessions.values), state.monitor)
        }
        monitor?.cancel()
        for session in sessions { session.close() }
    }

    /// Slots this replica holds for `slotKey` on session `key`: of one generation, or of any.
    func heldSlots(session key: String, slotKey: SlotKey, generation: UInt64? = nil) -> Set<Int32> {
        state.withLock { state in
            var held: Set<Int32> = []
            for holding in state.holdings.values where holding.session == key && (generation.map { holding.generation == $0 } ?? true) {
                for lock in holding.locks where lock.key == slotKey { held.insert(lock.slot) }
            }
            return held
        }
    }

    /// The slots below `max` this replica does not hold itself, in order: the ones to try.
    static func free(below max: Int, held: Set<Int32>) -> [Int32] {
        (0..<Int32(max)).filter { !held.contains($0) }
    }

    func downReason(_ session: CoordinationSession) -> String {
        if case .down(let why, _) = session.current { return why }
        return "connected"
    }

    /// The first of `candidates` whose lock this session could take, trying them in order in one
    /// statement; nil when all are held elsewhere. LIMIT 1 stops the scan at the first lock
    /// taken, so no further lock is taken by the same statement (an ORDER BY would evaluate the
    /// filter on every row first, taking every free slot).
    static func tryLock(_ pg: PGConnection, _ key: SlotKey, candidates: [Int32]) async throws -> Int32? {
        guard !candidates.isEmpty else { return nil }
        let array = "{" + candidates.map(String.init).joined(separator: ",") + "}"
        let result = try await pg.query(
            "SELECT s FROM unnest($1::int4[]) AS s WHERE pg_try_advisory_lock($2::int4, s) LIMIT 1",
            [array, String(key.value)]
        )
        guard case .int(let slot)? = result.rows.first?.first else { return nil }
        return Int32(slot)
    }

    /// The cluster's budget of a server is spent while this replica keeps idle connections of
    /// other pools there: one of them closes (where its pool stays at `min`), so that the waiting
    /// pool is not starved by this replica's own idle ones until their idle timeout.
    func makeRoom(onServer server: SlotKey, for pool: SlotKey, session: String) {
        let (candidates, holder) = state.withLock { state -> ([ConnectionID], (any AdmissionHolder)?) in
            let ids = state.holdings.filter { _, holding in
                holding.session == session && holding.locks.contains { $0.key == server } && !holding.locks.contains { $0.key == pool }
            }.map(\.key)
            return (ids, state.holder)
        }
        holder?.evictIdle(candidates, count: 1)
    }

    /// Notes that this replica waits for a slot of `key`, and shows it to the others with the
    /// key's want lock (taken once per session).
    func want(_ key: SlotKey, _ pg: PGConnection, session: String, generation: UInt64) async throws {
        let needsLock = state.withLock { state -> Bool in
            state.wants[key] = .now
            let held = state.wantLocks[session]
            return held?.generation != generation || !(held?.keys.contains(key) ?? false)
        }
        guard needsLock else { return }
        // Shared: every waiting replica holds it at once, and pg_locks lists each.
        _ = try await pg.query("SELECT pg_try_advisory_lock_shared($1::int4, 0)", [String(key.want.value)])
        state.withLock { state in
            var held: (generation: UInt64, keys: Set<SlotKey>) = state.wantLocks[session].flatMap { $0.generation == generation ? $0 : nil } ?? (generation, [])
            held.keys.insert(key)
            state.wantLocks[session] = held
        }
    }

    static func unlock(_ pg: PGConnection, _ locks: [Lock]) async throws {
        for lock in locks {
            _ = try await pg.query("SELECT pg_advisory_unlock($1::int4, $2::int4)", [String(lock.key.value), String(lock.slot)])
        }
    }
}
