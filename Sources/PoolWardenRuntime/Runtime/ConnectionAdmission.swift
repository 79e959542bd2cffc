import PoolCore

/// What the registry asks before it opens a server connection and tells once the connection's
/// backend has exited: the cluster's global caps (slots held in PostgreSQL) live behind it. A
/// single service has none, and opens what PoolCore's own caps allow.
public protocol ConnectionAdmission: Sendable {
    /// Called once by the registry it serves, with what the admission may ask of it (never from
    /// under a lock the admission holds while the registry may call in).
    func bind(_ registry: any AdmissionHolder)
    /// Takes what a new connection of `request.pool` needs before it is opened. Must answer within
    /// a few seconds whatever the coordination server does.
    func admit(_ request: AdmissionRequest) async -> AdmissionDecision
    /// The connection (admitted before) is gone: its backend has exited, or the connect failed.
    /// Returns once what it held is free, or after a bound.
    func release(_ connection: ConnectionID) async
    /// A pool's `max` or a budget's changed: connections whose slots no longer fit are closed
    /// (through ``AdmissionHolder/shed(_:count:)``, as a local surplus) when they cannot be moved
    /// under the new cap.
    func limitsChanged(pool: String?, max: Int?, budget: AdmissionRequest.Budget?)
    /// Opens the coordination a pool with this conninfo needs, ahead of its first connect, so that
    /// readiness tells at start whether the replica can coordinate.
    func prepare(conninfo: String, password: String?) async
    /// Why connections cannot be admitted now (for readiness); empty when they can.
    func problems() -> [String]
    /// Ends every coordination session; after it, nothing is admitted.
    func shutdown() async
}

/// What an admission may ask of the registry it serves.
public protocol AdmissionHolder: AnyObject, Sendable {
    /// These connections no longer hold the slots they were admitted with: they close now, and
    /// their leases are revoked (410 `slot_lost`).
    func slotsLost(_ connections: [ConnectionID])
    /// Give back `count` of these connections' slots to replicas that wait with fewer: idle ones
    /// close now, ones in use when they come back.
    func shed(_ connections: [ConnectionID], count: Int)
    /// Close up to `count` of these connections that are idle, where their pools keep their `min`:
    /// room on a server whose budget is spent, for another pool of this replica.
    func evictIdle(_ connections: [ConnectionID], count: Int)
}

/// One connection's claim: its pool's cap, and its server budget's if any.
public struct AdmissionRequest: Sendable {
    public struct Budget: Sendable, Hashable {
        /// `host:port` as the config wrote it: the same on every replica.
        public var label: String
        public var max: Int

        public init(label: String, max: Int) {
            self.label = label
            self.max = max
        }
    }

    public var connection: ConnectionID
    public var pool: String
    public var poolMax: Int
    public var budget: Budget?
    /// The pool's conninfo and password: where the coordination session for this server goes.
    public var conninfo: String
    public var password: String?

    public init(connection: ConnectionID, pool: String, poolMax: Int, budget: Budget?, conninfo: String, password: String?) {
        self.connection = connection
        self.pool = pool
        self.poolMax = poolMax
        self.budget = budget
        self.conninfo = conninfo
        self.password = password
    }
}

public enum AdmissionDecision: Sendable, Equatable {
    case admitted
    /// Every slot is held (by this replica or others), or coordination is lost: the connection is
    /// not opened, and the pool tries again shortly, without counting a connect failure.
    case unavailable(String)
}
