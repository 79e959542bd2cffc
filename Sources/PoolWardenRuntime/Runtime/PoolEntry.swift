import PoolCore
import PostgresLibPQ

/// What the registry keeps about one pool beside PoolCore's state.
struct PoolEntry {
    let id: PoolID
    var settings: PoolSettings {
        didSet { shown = Self.shown(settings) }
    }
    /// The server budget it counts against; fixed when the pool is added.
    let server: ServerID?
    /// The settings the config file gave it; nil for a pool created over the API. A reload
    /// replaces it: the file read last is the source of truth.
    var configured: PoolSettings?
    /// Replaced once at `start()` when the registry uses the global backend, which the app may
    /// bootstrap only after the registry exists.
    var metrics: WardenMetrics
    /// The totals the counters of `metrics` already hold (see ``WardenMetrics/catchUp(to:reported:)``).
    var reportedTotals = PoolTotals()
    /// The settings as status shows them (conninfo redacted, no password) and whether a password
    /// is set, worked out when the settings change rather than on every status: parsing and
    /// redacting a conninfo costs more than the rest of a pool's status.
    private(set) var shown: (settings: PoolSettings, passwordSet: Bool)

    init(id: PoolID, settings: PoolSettings, server: ServerID?, configured: PoolSettings?, metrics: WardenMetrics) {
        self.id = id
        self.settings = settings
        self.server = server
        self.configured = configured
        self.metrics = metrics
        shown = Self.shown(settings)
    }

    var applicationName: String { "poolwarden:\(settings.name)" }

    private static func shown(_ settings: PoolSettings) -> (settings: PoolSettings, passwordSet: Bool) {
        var shown = settings
        shown.conninfo = settings.redactedConninfo
        shown.password = nil
        return (shown, settings.password != nil || PGConninfo.password(in: settings.conninfo) != nil)
    }
}
