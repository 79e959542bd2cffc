import Foundation
import PostgresLibPQ

/// The PostgreSQL every integration test of a run shares: `POOLWARDEN_TEST_DSN` when set, otherwise
/// one throwaway cluster started on first use and stopped when the test process exits.
public enum TestPostgres {
    /// The shared server. Fails (never skips) when none can be had, saying how to get one.
    public static func server() async throws -> TestServer {
        StallProbe.startIfAsked()
        return try await shared.value
    }

    private static let shared = Task<TestServer, any Error> {
        if let dsn = ProcessInfo.processInfo.environment["POOLWARDEN_TEST_DSN"], !dsn.isEmpty {
            return try TestServer(dsn: dsn)
        }
        let cluster = try await offThread { try TestCluster.start() }
        sharedCluster = cluster
        atexit { TestPostgres.sharedCluster?.kill() }
        return TestServer(cluster: cluster)
    }

    nonisolated(unsafe) private static var sharedCluster: TestCluster?

    /// Runs blocking work (initdb, pg_ctl) away from the cooperative thread pool.
    public static func offThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try body() })
            }
        }
    }
}

/// Where a test reaches PostgreSQL, and helpers to connect as the superuser.
public struct TestServer: Sendable {
    public let host: String
    public let port: Int
    public let user: String
    /// The password of `user`, when the DSN carried one.
    public let password: String?
    /// Set when the harness owns the server (not for `POOLWARDEN_TEST_DSN`).
    public let cluster: TestCluster?

    init(cluster: TestCluster) {
        self.host = cluster.host
        self.port = cluster.port
        self.user = cluster.superuser
        self.password = nil
        self.cluster = cluster
    }

    init(dsn: String) throws {
        let values = try PGConninfo.parse(dsn).get()
        self.host = values["host"] ?? "127.0.0.1"
        self.port = Int(values["port"] ?? "5432") ?? 5432
        self.user = values["user"] ?? "postgres"
        self.password = values["password"]
        self.cluster = nil
    }

    /// A key/value conninfo for `database`, without the password.
    public func conninfo(database: String = "postgres", user: String? = nil) -> String {
        "host=\(host) port=\(port) user=\(user ?? self.user) dbname=\(database)"
    }

    public func connect(database: String = "postgres") async throws -> PGConnection {
        try await PGConnection.connect(PGConnectOptions(conninfo: conninfo(database: database), password: password))
    }

    /// The `application_name` of ``execute(_:_:database:)``'s sessions. Their backends exit a
    /// moment after the statement answers, and a test counting a database's sessions right after
    /// (on a loaded machine) saw one of them beside the service's.
    public static let executeApplicationName = "test-harness:execute"

    /// Runs one statement on a fresh superuser connection.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [String?] = [], database: String = "postgres") async throws -> PGQueryResult {
        let connection = try await PGConnection.connect(PGConnectOptions(
            conninfo: conninfo(database: database), password: password, applicationName: Self.executeApplicationName
        ))
        defer { connection.close() }
        return try await connection.query(sql, parameters)
    }

    /// Waits until backend `pid` executes a statement (pg_stat_activity says `active`): only from
    /// then on does a cancel request reach it; one that arrives earlier is dropped and the statement
    /// runs to its end. The client having sent the statement says nothing about that on a busy
    /// machine. False when the backend never got there (1,000 looks).
    public func waitUntilActive(pid: Int32) async throws -> Bool {
        for _ in 0..<1000 {
            let state = try await execute("SELECT state FROM pg_stat_activity WHERE pid = $1::int", ["\(pid)"]).rows.first?.first
            if state == .string("active") { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    /// Creates a database with a unique name, so tests running in parallel do not share tables.
    public func createDatabase(prefix: String = "t") async throws -> String {
        let name = "\(prefix)_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased())"
        try await execute("CREATE DATABASE \(name)")
        return name
    }
}
