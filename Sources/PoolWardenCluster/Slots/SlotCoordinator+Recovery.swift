import PoolCore
import PoolWardenRuntime
import PostgresLibPQ

extension SlotCoordinator {
    /// The coordination session for the server a pool's conninfo reaches (with the coordination
    /// database), made on first use; nil once shut down.
    func session(conninfo: String, password: String?) -> (String, CoordinationSession)? {
        let options = coordinationOptions(conninfo: conninfo, password: password)
        let key = conninfo + "\u{0}" + (password ?? "")
        return state.withLock { state -> (String, CoordinationSession)? in
            guard !state.closed else { return nil }
            if let session = state.sessions[key] { return (key, session) }
            let session = CoordinationSession(label: Self.label(conninfo, database: settings.coordinationDatabase), options: options)
            state.sessions[key] = session
            if state.monitor == nil {
                state.monitor = Task(executorPreference: PGConnection.ioExecutor) { [weak self] in await self?.watch() }
            }
            return (key, session)
        }
    }

    /// The pool's conninfo and role, the coordination database, keepalives both ways: the server
    /// ends a vanished replica's session (and with it its slots) within about 11 s, and this side
    /// notices a vanished server as soon.
    func coordinationOptions(conninfo: String, password: String?) -> PGConnectOptions {
        PGConnectOptions(
            conninfo: conninfo,
            password: password,
            applicationName: "poolwarden-coordination:\(settings.replica)",
            connectTimeout: CoordinationSession.connectTimeout,
            parameters: [
                "dbname": settings.coordinationDatabase,
                "options": "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3",
                "keepalives": "1", "keepalives_idle": "5", "keepalives_interval": "2", "keepalives_count": "3",
                "tcp_user_timeout": "10000",
            ]
        )
    }

    static func label(_ conninfo: String, database: String) -> String {
        let values = (try? PGConninfo.parse(conninfo).get()) ?? [:]
        let host = values["host"].flatMap { $0.isEmpty ? nil : $0 } ?? values["hostaddr"] ?? "local socket"
        return "\(host):\(values["port"] ?? "5432")/\(database)"
    }

    /// Looks at every session a few times a second and proves now and then that its server still
    /// answers; a lost session is recovered at once.
    func watch() async {
        var tick = 0
        while !Task.isCancelled {
            do { try await Task.sleep(for: Self.watchInterval) } catch { return }
            tick += 1
            let heartbeat = tick % Self.heartbeatTicks == 0
            let sessions = state.withLock { Array($0.sessions) }
            record(sessions.map(\.value))
            for (key, session) in sessions {
                if !session.isConnected || !session.looksAlive() {
                    await recover(key, session)
                } else if case .failure(.lost) = await session.run({ pg, generation in
                    // Looking at the others' wants proves the server answers, as a heartbeat.
                    if heartbeat { _ = try await pg.query("SELECT 1") }
                    try await self.balance(pg, session: key, generation: generation)
                }) {
                    await recover(key, session)
                }
            }
        }
    }

    func recoverSoon(_ key: String) {
        guard let session = state.withLock({ $0.sessions[key] }) else { return }
        Task(executorPreference: PGConnection.ioExecutor) { await self.recover(key, session) }
    }

    /// Connects the session again and takes a slot for each connection that held one on the old
    /// session, the same number first; the connections that get none are retired. With no
    /// session, every one of them is.
    func recover(_ key: String, _ session: CoordinationSession) async {
        let proceed = state.withLock { state -> Bool in
            guard !state.closed, !state.recovering.contains(key) else { return false }
            state.recovering.insert(key)
            return true
        }
        guard proceed else { return }
        defer { _ = state.withLock { $0.recovering.remove(key) } }
        let wasConnected = session.isConnected
        let generation = await session.connect()
        var lost: [ConnectionID] = []
        if let generation {
            if !wasConnected { logger.warning("coordination session re-established", metadata: ["server": "\(session.label)"]) }
            let moved = await session.run(expecting: generation) { pg, generation -> [ConnectionID] in
                try await self.reslot(pg, session: key, generation: generation)
            }
            if case .success(let retired) = moved { lost = retired }
        }
        lost += state.withLock { state -> [ConnectionID] in
            // Whatever still names an older session holds nothing now.
            let stale = state.holdings.filter { $0.value.session == key && $0.value.generation != (generation ?? 0) }.map(\.key)
            for id in stale { state.holdings[id] = nil }
            return stale
        }
        guard !lost.isEmpty else { return }
        logger.warning(
            "coordination session lost; connections without a slot are closed",
            metadata: ["server": "\(session.label)", "connections": "\(lost.count)", "reconnected": "\(generation != nil)"]
        )
        let holder = state.withLock { $0.holder }
        holder?.slotsLost(lost)
    }

    /// Under the session's lock: every holding of an older generation takes its slots again on
    /// this one. Returns the connections that could not.
    private func reslot(_ pg: PGConnection, session key: String, generation: UInt64) async throws -> [ConnectionID] {
        let old = state.withLock { state in state.holdings.filter { $0.value.session == key && $0.value.generation != generation } }
        var lost: [ConnectionID] = []
        for (id, holding) in old.sorted(by: { $0.key < $1.key }) {
            var taken: [Lock] = []
            var complete = true
            for lock in holding.locks {
                let max = state.withLock { $0.limits[lock.key] } ?? Int(lock.slot) + 1
                let held = heldSlots(session: key, slotKey: lock.key, generation: generation).union(taken.filter { $0.key == lock.key }.map(\.slot))
                let candidates = ([lock.slot] + (0..<Int32(max)).filter { $0 != lock.slot }).filter { $0 < Int32(max) && !held.contains($0) }
                guard let slot = try await Self.tryLock(pg, lock.key, candidates: candidates) else {
                    complete = false
                    break
                }
                taken.append(Lock(key: lock.key, slot: slot))
            }
            if complete {
                state.withLock { $0.holdings[id] = Holding(session: key, generation: generation, locks: taken) }
            } else {
                try await Self.unlock(pg, taken)
                state.withLock { _ = $0.holdings.removeValue(forKey: id) }
                lost.append(id)
            }
        }
        return lost
    }

    /// After a cap shrank: each connection whose slot of `key` is no longer below it moves to a
    /// free one that is, or closes as a local resize closes a surplus: idle ones now, ones in
    /// use when they come back.
    func fit(_ key: SlotKey, max: Int) async {
        let sessions = state.withLock { state -> [String: CoordinationSession] in
            var outside: [String: CoordinationSession] = [:]
            for holding in state.holdings.values where holding.locks.contains(where: { $0.key == key && $0.slot >= Int32(max) }) {
                outside[holding.session] = state.sessions[holding.session]
            }
            return outside
        }
        var lost: [ConnectionID] = []
        for (sessionKey, session) in sessions {
            let result = await session.run { pg, generation -> [ConnectionID] in
                var retired: [ConnectionID] = []
                let outside = self.state.withLock { state in
                    state.holdings.filter { $0.value.session == sessionKey && $0.value.generation == generation && $0.value.locks.contains { $0.key == key && $0.slot >= Int32(max) } }
                }
                for (id, holding) in outside.sorted(by: { $0.key < $1.key }) {
                    guard let index = holding.locks.firstIndex(where: { $0.key == key && $0.slot >= Int32(max) }) else { continue }
                    let held = self.heldSlots(session: sessionKey, slotKey: key, generation: generation)
                    if let slot = try await Self.tryLock(pg, key, candidates: Self.free(below: max, held: held)) {
                        try await Self.unlock(pg, [holding.locks[index]])
                        self.state.withLock { state in state.holdings[id]?.locks[index].slot = slot }
                    } else {
                        retired.append(id)
                    }
                }
                return retired
            }
            if case .success(let retired) = result { lost += retired }
        }
        guard !lost.isEmpty else { return }
        logger.info("cap lowered below slots held; closing those connections", metadata: ["slots": "\(key)", "connections": "\(lost.count)"])
        // Their slots go back when they close, as for any connection.
        let holder = state.withLock { $0.holder }
        holder?.shed(lost, count: lost.count)
    }
}

extension SlotCoordinator {
    /// Wants of this replica that no connect renewed lately are withdrawn.
    static let wantLifetime: Duration = .milliseconds(500)

    /// Under the session's lock, a few times a second: withdraws this replica's stale wants, then
    /// looks in `pg_locks` at which other sessions want a slot of a key this one holds and how many
    /// they hold. While one waits with fewer, this replica holds at most one more than the
    /// fewest (giving back the rest as they become idle) and takes no more: no replica starves,
    /// with no fixed split between them.
    func balance(_ pg: PGConnection, session key: String, generation: UInt64) async throws {
        let now = ContinuousClock.now
        let stale = state.withLock { state -> [SlotKey] in
            guard let held = state.wantLocks[key], held.generation == generation else { return [] }
            return held.keys.filter { state.wants[$0].map { now - $0 > Self.wantLifetime } ?? true }
        }
        for wanted in stale {
            _ = try await pg.query("SELECT pg_advisory_unlock_shared($1::int4, 0)", [String(wanted.want.value)])
            state.withLock { state in
                state.wantLocks[key]?.keys.remove(wanted)
                state.wants[wanted] = nil
            }
        }
        let mine = state.withLock { state -> [SlotKey: [ConnectionID]] in
            var mine: [SlotKey: [ConnectionID]] = [:]
            for (id, holding) in state.holdings where holding.session == key && holding.generation == generation {
                for lock in holding.locks { mine[lock.key, default: []].append(id) }
            }
            return mine
        }
        guard !mine.isEmpty else { return }
        let classes = mine.keys.flatMap { [$0.classID, $0.want.classID] }
        let result = try await pg.query(
            """
            SELECT classid::int8, objid::int8, pid, count(*)::int8 FROM pg_locks
            WHERE locktype = 'advisory' AND objsubid = 2 AND granted AND pid <> pg_backend_pid()
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND classid::int8 = ANY($1::int8[])
            GROUP BY 1, 2, 3
            """,
            ["{" + classes.map(String.init).joined(separator: ",") + "}"]
        )
        // Per key: each other session's slots held, and whether it wants more.
        var others: [SlotKey: [Int64: (held: Int, wants: Bool)]] = [:]
        for row in result.rows {
            guard case .int(let classID) = row[0], case .int(let pid) = row[2], case .int(let count) = row[3] else { continue }
            for slotKey in mine.keys {
                if slotKey.classID == classID {
                    others[slotKey, default: [:]][pid, default: (0, false)].held += Int(count)
                } else if slotKey.want.classID == classID {
                    others[slotKey, default: [:]][pid, default: (0, false)].wants = true
                }
            }
        }
        var restraints: [SlotKey: Int] = [:]
        var shedding: [(ids: [ConnectionID], count: Int)] = []
        for (slotKey, ids) in mine {
            let wanting = (others[slotKey] ?? [:]).values.filter(\.wants)
            guard let fewest = wanting.map(\.held).min() else { continue }
            restraints[slotKey] = fewest + 1
            if ids.count > fewest + 1 { shedding.append((ids, ids.count - fewest - 1)) }
        }
        let holder = state.withLock { state -> (any AdmissionHolder)? in
            for slotKey in mine.keys { state.restraints[slotKey] = restraints[slotKey] }
            return state.holder
        }
        for shed in shedding { holder?.shed(shed.ids, count: shed.count) }
    }
}

extension SlotCoordinator {
    /// The cluster's gauges, as the watch loop finds them.
    func record(_ sessions: [CoordinationSession]) {
        for session in sessions { metrics.coordination(session.label, up: session.isConnected) }
        let held = state.withLock { state -> [String: Int] in
            var held: [String: Int] = [:]
            for key in state.limits.keys { held[key.description] = 0 }
            for holding in state.holdings.values {
                for lock in holding.locks { held[lock.key.description, default: 0] += 1 }
            }
            return held
        }
        for (slots, count) in held { metrics.slotsHeld(slots, count) }
    }
}
