import PostgresLibPQ

/// The host and port a conninfo connects to, which decides the server budget (`servers:`) a pool
/// counts against.
///
/// Names are compared as written (case-insensitively): `localhost` and `127.0.0.1` are different
/// servers as far as budgets go. For a host list (`host=a,b`) the first host and port count. A
/// conninfo without a host counts as `localhost`, without a port as 5432.
struct ServerAddress: Hashable, Sendable {
    var host: String
    var port: Int

    init(host: String, port: Int) {
        self.host = host.lowercased()
        self.port = port
    }

    init(_ budget: ServerBudgetSettings) {
        self.init(host: budget.host, port: budget.port)
    }

    /// nil when the conninfo cannot be parsed.
    init?(conninfo: String) {
        guard case .success(let values) = PGConninfo.parse(conninfo) else { return nil }
        let host = Self.first(values["host"]) ?? Self.first(values["hostaddr"]) ?? "localhost"
        let port = Self.first(values["port"]).flatMap { Int($0) } ?? 5432
        self.init(host: host, port: port)
    }

    private static func first(_ list: String?) -> String? {
        guard let list else { return nil }
        let first = list.split(separator: ",", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        return first.isEmpty ? nil : first
    }
}
