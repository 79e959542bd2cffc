import Foundation
import Logging
import Testing

@testable import PoolWardenHTTP
@testable import PoolWardenRuntime

@Suite("Config loading")
struct ConfigLoaderTests {
    /// DESIGN.md's "Config (YAML), as a user would write it", character for character.
    static let designExample = """
        listen: { host: 127.0.0.1, port: 8080 }
        callers:
          - { name: ops, role: admin, key_env: POOLWARDEN_OPS_KEY }
          - { name: nightly-report, role: client, key_env: REPORT_KEY, pools: [billing] }
        pools:
          - name: billing
            conninfo: "host=db1 port=5432 dbname=billing user=app"   # libpq conninfo or URI
            password_env: BILLING_PG_PASSWORD
            min: 2
            max: 20
            max_per_caller: 5
            lease_ttl: 60s
            borrow_timeout: 5s
            max_lifetime: 30m
            idle_timeout: 5m
            connect_retry: { attempts: 5, base_delay: 200ms, max_delay: 5s }
        servers:                       # optional: one cap for every pool on that server
          - { host: db1, port: 5432, max_connections: 40 }
        """

    static let designEnvironment = [
        "POOLWARDEN_OPS_KEY": "ops-secret-key-0123456789",
        "REPORT_KEY": "report-key-abcdef0123456789",
        "BILLING_PG_PASSWORD": "pg-pass-word",
    ]

    @Test("the DESIGN.md example parses as written into the expected settings")
    func designExample() throws {
        let config = try ConfigLoader(environment: Self.designEnvironment).load(yaml: Self.designExample)

        #expect(config.listen == ListenAddress(host: "127.0.0.1", port: 8080))

        var billing = PoolSettings(
            name: "billing",
            conninfo: "host=db1 port=5432 dbname=billing user=app",
            password: "pg-pass-word"
        )
        billing.passwordEnv = "BILLING_PG_PASSWORD"
        billing.min = 2
        billing.max = 20
        billing.maxPerCaller = 5
        billing.leaseTTL = .seconds(60)
        billing.borrowTimeout = .seconds(5)
        billing.maxLifetime = .seconds(30 * 60)
        billing.idleTimeout = .seconds(5 * 60)
        billing.connectRetry = ConnectRetrySettings(attempts: 5, baseDelay: .milliseconds(200), maxDelay: .seconds(5))
        #expect(config.pools == [billing])

        #expect(config.callers == [
            CallerConfig(name: "ops", role: .admin, keyDigest: KeyDigest(hashing: "ops-secret-key-0123456789"), keyEnv: "POOLWARDEN_OPS_KEY"),
            CallerConfig(
                name: "nightly-report",
                role: .client,
                pools: ["billing"],
                keyDigest: KeyDigest(hashing: "report-key-abcdef0123456789"),
                keyEnv: "REPORT_KEY"
            ),
        ])
        #expect(config.callers[1].identity == CallerIdentity(name: "nightly-report", role: .client, pools: ["billing"]))
        #expect(config.servers == [ServerBudgetSettings(host: "db1", port: 5432, maxConnections: 40)])
        #expect(config.shutdownGrace == .seconds(10))
        #expect(config.maxBodyBytes == 1 << 20)
        #expect(config.logLevel == .info)
        #expect(!config.requiresLoopback)
    }

    @Test("omitted keys take the documented defaults")
    func defaults() throws {
        let config = try ConfigLoader(environment: [:]).load(yaml: """
            pools:
              - { name: app, conninfo: "dbname=app" }
            """)
        #expect(config.pools == [PoolSettings(name: "app", conninfo: "dbname=app")])
        let pool = try #require(config.pools.first)
        #expect(pool.min == 0)
        #expect(pool.max == 10)
        #expect(pool.maxPerCaller == nil)
        #expect(pool.password == nil)
        #expect(config.listen == ListenAddress(host: "127.0.0.1", port: 8080))
        #expect(config.callers.isEmpty)
        #expect(config.servers.isEmpty)
        #expect(config.shutdownGrace == .seconds(10))
        #expect(config.maxBodyBytes == 1_048_576)
        #expect(config.logLevel == .info)
        #expect(config.requiresLoopback)
    }

    @Test("an empty file, or one of comments only, is the default config")
    func emptyFile() throws {
        #expect(try ConfigLoader(environment: [:]).load(yaml: "") == WardenConfig())
        #expect(try ConfigLoader(environment: [:]).load(yaml: "# nothing yet\n\n") == WardenConfig())
    }

    @Test("the extra pool keys and top-level keys map onto the settings")
    func extraKeys() throws {
        let config = try ConfigLoader(environment: [:]).load(yaml: """
            shutdown_grace: 1m30s
            max_body_bytes: 512KiB
            log_level: debug
            pools:
              - name: reports.v2
                conninfo: postgresql://app@db2/reports
                health_check_after: 2s
                statement_timeout: 45s
                max_statement_timeout: 1h
                application_name_tagging: false
                reset_statement: DISCARD ALL
                max_result_rows: 5000
                max_result_bytes: 8MiB
            """)
        #expect(config.shutdownGrace == .seconds(90))
        #expect(config.maxBodyBytes == 512 * 1024)
        #expect(config.logLevel == .debug)
        let pool = try #require(config.pools.first)
        #expect(pool.name == "reports.v2")
        #expect(pool.conninfo == "postgresql://app@db2/reports")
        #expect(pool.healthCheckAfter == .seconds(2))
        #expect(pool.statementTimeout == .seconds(45))
        #expect(pool.maxStatementTimeout == .seconds(3600))
        #expect(pool.applicationNameTagging == false)
        #expect(pool.resetStatement == "DISCARD ALL")
        #expect(pool.maxResultRows == 5000)
        #expect(pool.maxResultBytes == 8 << 20)
    }

    @Test("off and 0 turn the optional durations off; health_check_after 0 means check every time")
    func offSwitches() throws {
        let config = try ConfigLoader(environment: [:]).load(yaml: """
            pools:
              - { name: a, conninfo: "dbname=a", max_lifetime: off, idle_timeout: 0, health_check_after: off, statement_timeout: "0" }
              - { name: b, conninfo: "dbname=b", max_lifetime: 0, idle_timeout: OFF, health_check_after: 0, statement_timeout: off }
            """)
        let a = config.pools[0]
        #expect(a.maxLifetime == nil)
        #expect(a.idleTimeout == nil)
        #expect(a.healthCheckAfter == nil)
        #expect(a.statementTimeout == nil)
        let b = config.pools[1]
        #expect(b.maxLifetime == nil)
        #expect(b.idleTimeout == nil)
        #expect(b.healthCheckAfter == .zero)
        #expect(b.statementTimeout == nil)
    }

    @Test("block style, anchors and merge keys are plain YAML and work")
    func yamlFeatures() throws {
        let config = try ConfigLoader(environment: ["K": "a-key"]).load(yaml: """
            listen:
              host: localhost
              port: 9000
            callers:
              - name: ci
                role: client
                key_env: K
                pools:
                  - one
            pools:
              - &first
                name: one
                conninfo: dbname=one
                max: 4
                lease_ttl: 10s
              - <<: *first
                name: two
                max: 6
            """)
        #expect(config.listen == ListenAddress(host: "localhost", port: 9000))
        #expect(config.callers.map(\.identity) == [CallerIdentity(name: "ci", role: .client, pools: ["one"])])
        #expect(config.pools.map(\.name) == ["one", "two"])
        #expect(config.pools[1].max == 6)
        #expect(config.pools[1].leaseTTL == .seconds(10))
        #expect(config.pools[1].conninfo == "dbname=one")
    }

    @Test("a file is read from disk; a missing one is a clear error")
    func fromFile() throws {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("poolwarden-config-\(UUID().uuidString).yaml").path
        try Self.designExample.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let config = try ConfigLoader(environment: Self.designEnvironment).load(file: path)
        #expect(config.pools.map(\.name) == ["billing"])

        let missing = path + ".absent"
        #expect {
            try ConfigLoader(environment: [:]).load(file: missing)
        } throws: { error in
            "\(error)" == "\(missing): no such file"
        }
        let directory = FileManager.default.temporaryDirectory.path
        #expect {
            try ConfigLoader(environment: [:]).load(file: directory)
        } throws: { error in
            "\(error)" == "\(directory): is a directory, not a config file"
        }
    }

    @Test("the environment defaults to the process's")
    func processEnvironment() throws {
        let loader = ConfigLoader()
        #expect(loader.environment == ProcessInfo.processInfo.environment)
    }

    @Test("a config never shows a password or key in its description")
    func noSecretsInDescriptions() throws {
        let config = try ConfigLoader(environment: Self.designEnvironment).load(yaml: Self.designExample)
        for text in ["\(config)", String(reflecting: config), "\(config.callers)"] {
            #expect(!text.contains("ops-secret-key-0123456789"))
            #expect(!text.contains("report-key-abcdef0123456789"))
            #expect(!text.contains("pg-pass-word"))
        }
        #expect("\(config)".contains("billing"))
    }
}
