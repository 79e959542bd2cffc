@testable import PoolWardenHTTP
@testable import PoolWardenRuntime
import TestPostgres
import Testing

/// Server budgets match what a conninfo really reaches, not the text it was written with.
@Suite("Server budgets match addresses")
struct ServerAddressTests {
    static func fakeDNS(_ host: String) -> [String] {
        switch host {
        case "localhost": ["127.0.0.1", "::1"]
        case "db1.example": ["10.0.0.5"]
        case "db1-alias.example": ["10.0.0.5"]
        default: host.first?.isNumber == true || host.contains(":") ? [host] : []
        }
    }

    static func endpoints(_ conninfo: String) -> Set<ServerAddress> {
        ServerAddress.endpoints(conninfo: conninfo, resolve: fakeDNS) ?? []
    }

    @Test("localhost, 127.0.0.1, hostaddr and a host list reach the same budget")
    func spellingsOfOneServer() {
        let budget = ServerAddress.endpoints(ServerBudgetSettings(host: "127.0.0.1", port: 5432, maxConnections: 3), resolve: Self.fakeDNS)
        for conninfo in [
            "host=localhost dbname=a", "host=127.0.0.1 dbname=a", "hostaddr=127.0.0.1 dbname=a",
            "host=ignored.example hostaddr=127.0.0.1", "host=10.9.9.9,localhost port=5432",
            "postgresql://localhost:5432/a", "postgresql://10.9.9.9,127.0.0.1/a", "host=/var/run/postgresql dbname=a",
            "dbname=a",
        ] {
            #expect(!budget.isDisjoint(with: Self.endpoints(conninfo)), "\(conninfo) escaped the budget")
        }
    }

    @Test("another port, another server: no match; a name and its alias: one server")
    func differentServers() {
        let budget = ServerAddress.endpoints(ServerBudgetSettings(host: "db1.example", port: 5432, maxConnections: 3), resolve: Self.fakeDNS)
        #expect(budget.isDisjoint(with: Self.endpoints("host=db1.example port=5433")))
        #expect(budget.isDisjoint(with: Self.endpoints("host=127.0.0.1")))
        #expect(!budget.isDisjoint(with: Self.endpoints("host=db1-alias.example")))
        // Per-host ports in a list.
        #expect(!budget.isDisjoint(with: Self.endpoints("host=127.0.0.1,db1.example port=5433,5432")))
        #expect(budget.isDisjoint(with: Self.endpoints("host=127.0.0.1,db1.example port=5432,5433")))
    }

    @Test("pools naming one server four ways share its budget of 3: never more than 3 backends")
    func fourSpellingsShareOneBudget() async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase(prefix: "sa")
        let spellings = [
            "host=localhost port=\(server.port)",
            "host=127.0.0.1 port=\(server.port)",
            "hostaddr=127.0.0.1 port=\(server.port)",
            "host=127.0.0.2,127.0.0.1 port=\(server.port)",
        ]
        let pools = spellings.enumerated().map { index, spelling in
            var settings = Runtime.settings("s\(index)", server, database: database) { $0.max = 3 }
            settings.conninfo = "\(spelling) user=\(server.user) dbname=\(database)"
            return settings
        }
        let registry = await Runtime.registry(pools, servers: [ServerBudgetSettings(host: "127.0.0.1", port: server.port, maxConnections: 3)])
        let statuses = registry.statuses()
        #expect(statuses.allSatisfy { $0.server == "127.0.0.1:\(server.port)" }, "\(statuses.map { ($0.name, $0.server) })")
        let watcher = try await BackendSampler(server, database: database)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for round in 0..<6 {
                        let pool = "s\((worker + round) % 4)"
                        let caller = CallerIdentity(name: "worker\(worker)", role: .client)
                        _ = try await registry.queryOnce(pool: pool, caller: caller, sql: "SELECT pg_sleep(0.01)", parameters: [], timeout: nil)
                    }
                }
            }
            try await group.waitForAll()
        }
        let (peak, samples) = watcher.stop()
        await registry.shutdown()
        #expect(samples > 0)
        #expect(peak <= 3, "\(peak) backends under a budget of 3")
    }
}
