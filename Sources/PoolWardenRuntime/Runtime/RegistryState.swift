import PoolCore

/// Everything the registry decides on, behind its one lock: PoolCore's group and the runtime's
/// bookkeeping around it (names, tokens, waiting borrows, timers, connects in flight).
struct RegistryState {
    struct ConnectEntry {
        let pool: PoolID
        let task: Task<Void, Never>
    }

    var group: PoolGroup<WardenPoolTypes>
    /// Live pools by name; a pool being deleted has left this map already.
    var poolIDs: [String: PoolID] = [:]
    /// Every pool PoolCore still has, draining ones included.
    var pools: [PoolID: PoolEntry] = [:]
    var servers: [ServerBudgetEntry] = []
    var leases: [String: LeaseEntry] = [:]
    var tokens: [LeaseID: String] = [:]
    var ended = EndedLeases()
    var borrows: [UInt64: BorrowWaiter] = [:]
    var nextRequest: UInt64 = 1
    /// Each pending timer's deadline.
    var timers: [PoolTimerKind: ContinuousClock.Instant] = [:]
    /// When the dispatch timer fires next; nil when it is not armed.
    var timerArmedFor: ContinuousClock.Instant?
    var connects: [ConnectionID: ConnectEntry] = [:]
    var poolClosedSignals: [PoolID: CompletionSignal] = [:]
    /// Why a closing connection is still counted: its backend outlived the close and is being
    /// terminated.
    var closingNotes: [ConnectionID: String] = [:]
    /// The actions of the pools added by `init`, run by `start()`.
    var pendingStart: [PoolActions] = []
    var started = false
    var metricsTask: Task<Void, Never>?

    init(group: PoolGroup<WardenPoolTypes>) {
        self.group = group
    }
}
