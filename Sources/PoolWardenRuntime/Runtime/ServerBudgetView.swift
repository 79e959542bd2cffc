/// A `servers:` budget as `GET /v1/servers` shows it.
public struct ServerBudgetView: Sendable, Equatable {
    /// `host:port` as the config's `servers:` entry names it.
    public var server: String
    /// Connections of its pools that count against the budget: open, being opened or closing.
    public var open: Int
    /// The budget, `max_connections`.
    public var max: Int
    /// The pools counting against it, by name, sorted.
    public var pools: [String]

    public init(server: String, open: Int, max: Int, pools: [String]) {
        self.server = server
        self.open = open
        self.max = max
        self.pools = pools
    }
}
