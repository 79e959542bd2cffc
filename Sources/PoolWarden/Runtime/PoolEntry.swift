import PoolCore

/// What the registry keeps about one pool beside PoolCore's state.
struct PoolEntry {
    let id: PoolID
    var settings: PoolSettings
    /// The server budget it counts against; fixed when the pool is added.
    let server: ServerID?
    /// Replaced once at `start()` when the registry uses the global backend, which the app may
    /// bootstrap only after the registry exists.
    var metrics: WardenMetrics

    var applicationName: String { "poolwarden:\(settings.name)" }
}
