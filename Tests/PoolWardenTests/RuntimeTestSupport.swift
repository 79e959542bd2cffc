import Foundation
import Logging
@testable import PoolWardenHTTP
@testable import PoolWardenRuntime
import PostgresLibPQ
import TestPostgres
import Testing

/// Builders and probes shared by the runtime tests: each test gets a database of its own, so
/// pg_stat_activity counts filtered by `datname` see only its connections.
enum Runtime {
    static let alice = CallerIdentity(name: "alice", role: .client)
    static let bob = CallerIdentity(name: "bob", role: .client)
    static let ops = CallerIdentity(name: "ops", role: .admin)

    static let logger = TestLog.logger("poolwarden.runtime-tests", quiet: .critical)

    /// Settings that keep tests fast: no health checks, quick retries, short waits.
    static func settings(
        _ name: String,
        _ server: TestServer,
        database: String,
        _ configure: (inout PoolSettings) -> Void = { _ in }
    ) -> PoolSettings {
        var settings = PoolSettings(name: name, conninfo: server.conninfo(database: database), password: server.password)
        settings.min = 0
        settings.max = 4
        // Long enough for a first connect on a loaded machine; tests that want a timeout pass `wait:`.
        settings.borrowTimeout = .seconds(10)
        settings.leaseTTL = .seconds(30)
        settings.healthCheckAfter = nil
        settings.statementTimeout = .seconds(10)
        settings.connectRetry = ConnectRetrySettings(attempts: 3, baseDelay: .milliseconds(20), maxDelay: .milliseconds(100))
        configure(&settings)
        return settings
    }

    static func registry(
        _ pools: [PoolSettings],
        servers: [ServerBudgetSettings] = [],
        metrics: RuntimeTestMetrics = RuntimeTestMetrics()
    ) async -> PoolRegistry {
        var logger = logger
        logger[metadataKey: "test"] = "\(Test.current?.name.prefix(24) ?? "-")"
        let registry = PoolRegistry(pools: pools, servers: servers, logger: logger, metricsFactory: metrics)
        await registry.start()
        return registry
    }

    /// A new database and a registry with one pool `p` on it.
    static func fixture(
        metrics: RuntimeTestMetrics = RuntimeTestMetrics(),
        _ configure: (inout PoolSettings) -> Void = { _ in }
    ) async throws -> (registry: PoolRegistry, server: TestServer, database: String) {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase(prefix: "rt")
        let registry = await registry([settings("p", server, database: database, configure)], metrics: metrics)
        return (registry, server, database)
    }

    /// Runs `body` against a fresh fixture and shuts the registry down afterwards, also when the
    /// body throws.
    static func withFixture(
        metrics: RuntimeTestMetrics = RuntimeTestMetrics(),
        configure: (inout PoolSettings) -> Void = { _ in },
        _ body: (PoolRegistry, TestServer, String) async throws -> Void
    ) async throws {
        let (registry, server, database) = try await fixture(metrics: metrics, configure)
        do {
            try await body(registry, server, database)
        } catch {
            await registry.shutdown()
            throw error
        }
        await registry.shutdown()
    }

    /// Backend PID → application_name of every session connected to `database` but the test
    /// server's own one-statement ones (``TestServer/execute(_:_:database:)``), whose backends may
    /// still be exiting.
    static func backends(_ server: TestServer, database: String) async throws -> [Int32: String] {
        let result = try await server.execute(
            "SELECT pid, application_name FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' AND application_name <> $2",
            [database, TestServer.executeApplicationName]
        )
        var backends: [Int32: String] = [:]
        for row in result.rows {
            guard case .int(let pid) = row[0], case .string(let name) = row[1] else { continue }
            backends[Int32(pid)] = name
        }
        return backends
    }

    static func count(_ server: TestServer, database: String, sql: String) async throws -> Int64 {
        let result = try await server.execute(sql, database: database)
        guard case .int(let value) = result.rows.first?.first else { return -1 }
        return value
    }

    /// Polls `condition` until it holds or `timeout` passes; returns whether it held.
    static func eventually(timeout: Duration = .seconds(5), _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return try await condition()
    }

    static func int(_ result: PGQueryResult) -> Int64? {
        guard case .int(let value) = result.rows.first?.first else { return nil }
        return value
    }

    /// The error a throwing call produced, nil when it succeeded.
    static func error<T>(_ body: () async throws -> T) async -> WardenError? {
        do {
            _ = try await body()
            return nil
        } catch let error as WardenError {
            return error
        } catch {
            return .internal("not a WardenError: \(error)")
        }
    }
}

extension PoolRegistry {
    /// `borrow` with the defaults the tests use most.
    func borrow(_ pool: String, _ caller: CallerIdentity, wait: Duration? = nil, key: String? = nil) async throws(WardenError) -> BorrowOutcome {
        try await borrow(pool: pool, caller: caller, ttl: nil, wait: wait, key: key)
    }

    /// Borrows and returns the new lease's token.
    func token(_ pool: String, _ caller: CallerIdentity) async throws -> String {
        try #require(try await borrow(pool, caller).lease.token)
    }

    /// `query` with positional arguments.
    func run(
        _ token: String,
        _ caller: CallerIdentity,
        _ sql: String,
        _ parameters: [String?] = [],
        timeout: Duration? = nil
    ) async throws(WardenError) -> PGQueryResult {
        try await query(token: token, caller: caller, sql: sql, parameters: parameters, timeout: timeout)
    }
}
