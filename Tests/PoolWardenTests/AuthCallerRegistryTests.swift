import Testing

@testable import PoolWardenHTTP
@testable import PoolWardenRuntime

@Suite("Auth: caller registry")
struct AuthCallerRegistryTests {
    static let opsKey = "ops-secret-key-0123456789"
    static let reportKey = "report-key-abcdef0123456789"
    /// `printf %s dashboard-key-9876543210 | sha256sum`
    static let dashboardKey = "dashboard-key-9876543210"
    static let dashboardDigest = "dff080ee4ba31c59f99898115616f29d9c88407b67eca619994430f7151943fc"

    static func registry() throws -> CallerRegistry {
        let config = try ConfigLoader(environment: ["OPS_KEY": opsKey, "REPORT_KEY": reportKey]).load(yaml: """
            pools:
              - { name: billing, conninfo: dbname=billing }
              - { name: analytics, conninfo: dbname=analytics }
            callers:
              - { name: ops, role: admin, key_env: OPS_KEY }
              - { name: nightly-report, role: client, key_env: REPORT_KEY, pools: [billing] }
              - { name: dashboard, role: client, key_sha256: \(dashboardDigest.uppercased()) }
            """)
        return CallerRegistry(config: config)
    }

    @Test("key_env and key_sha256 callers both authenticate, each as itself")
    func authenticates() throws {
        let registry = try Self.registry()
        #expect(!registry.isOpen)
        #expect(try registry.authenticate(authorizationHeader: "Bearer \(Self.opsKey)").get()
            == CallerIdentity(name: "ops", role: .admin))
        #expect(try registry.authenticate(authorizationHeader: "Bearer \(Self.reportKey)").get()
            == CallerIdentity(name: "nightly-report", role: .client, pools: ["billing"]))
        #expect(try registry.authenticate(authorizationHeader: "Bearer \(Self.dashboardKey)").get()
            == CallerIdentity(name: "dashboard", role: .client))
    }

    @Test("the scheme is case-insensitive and surrounding spaces are ignored", arguments: [
        "Bearer ", "bearer ", "BEARER ", "BeArEr ", "  Bearer   ", "Bearer\t",
    ])
    func schemeCase(prefix: String) throws {
        let registry = try Self.registry()
        #expect(try registry.authenticate(authorizationHeader: prefix + Self.opsKey + "  ").get().name == "ops")
    }

    @Test("no header, another scheme or an empty key: missing bearer key", arguments: [
        nil, "", "Bearer", "Bearer   ", "Basic b3BzOnNlY3JldA==", "Token \(opsKey)", "Bearer\(opsKey)", opsKey,
    ] as [String?])
    func missing(header: String?) throws {
        let registry = try Self.registry()
        #expect(registry.authenticate(authorizationHeader: header) == .failure(.unauthorized("missing bearer key")))
    }

    @Test("a wrong key: invalid key, never repeated in the error", arguments: [
        "wrong", "ops-secret-key-012345678", "ops-secret-key-01234567890", "OPS-SECRET-KEY-0123456789",
        dashboardDigest, "\(opsKey) extra",
    ])
    func wrongKey(key: String) throws {
        let registry = try Self.registry()
        let result = registry.authenticate(authorizationHeader: "Bearer \(key)")
        #expect(result == .failure(.unauthorized("invalid key")))
        if case .failure(let error) = result {
            #expect(!error.detail.contains(key))
            #expect(error.code == "unauthorized")
            #expect(error.status == 401)
        }
    }

    @Test("with no callers every request is the anonymous admin, and the registry says it is open")
    func open() {
        let registry = CallerRegistry(config: WardenConfig())
        #expect(registry.isOpen)
        #expect(registry.callers.isEmpty)
        for header in [nil, "", "Bearer anything", "Basic x"] as [String?] {
            #expect(registry.authenticate(authorizationHeader: header) == .success(.anonymousAdmin))
        }
    }

    @Test("each of many callers is found, whatever its position")
    func everyPosition() throws {
        let callers = (0..<9).map { index in
            CallerConfig(name: "c\(index)", role: index == 4 ? .admin : .client, keyDigest: KeyDigest(hashing: "key-\(index)"))
        }
        let registry = CallerRegistry(callers: callers)
        #expect(registry.callers.count == 9)
        for index in 0..<9 {
            #expect(try registry.authenticate(authorizationHeader: "Bearer key-\(index)").get().name == "c\(index)")
        }
        #expect(registry.authenticate(authorizationHeader: "Bearer key-9") == .failure(.unauthorized("invalid key")))
    }

    @Test("a caller with several keys is itself with each; once a key leaves the file it is refused")
    func severalKeys() throws {
        let environment = ["NEW_KEY": "new-key-0123456789", "OLD_KEY": "old-key-0123456789", "OTHER": "other-key-0123456789"]
        let both = try ConfigLoader(environment: environment).load(yaml: """
            callers:
              - { name: first, role: client, key_env: OTHER }
              - { name: rotating, role: client, key_env: [NEW_KEY, OLD_KEY], key_sha256: \(Self.dashboardDigest), pools: [] }
            """)
        let registry = CallerRegistry(config: both)
        #expect(registry.callers.map(\.name) == ["first", "rotating"], "one identity per caller, however many keys")
        for key in ["new-key-0123456789", "old-key-0123456789", Self.dashboardKey] {
            #expect(try registry.authenticate(authorizationHeader: "Bearer \(key)").get() == CallerIdentity(name: "rotating", role: .client, pools: []))
        }
        #expect(try registry.authenticate(authorizationHeader: "Bearer other-key-0123456789").get().name == "first")
        let rotated = try ConfigLoader(environment: environment).load(yaml: """
            callers:
              - { name: rotating, role: client, key_env: NEW_KEY }
            """)
        let after = CallerRegistry(config: rotated)
        #expect(try after.authenticate(authorizationHeader: "Bearer new-key-0123456789").get().name == "rotating")
        #expect(after.authenticate(authorizationHeader: "Bearer old-key-0123456789") == .failure(.unauthorized("invalid key")))
    }

    @Test("an admin's identity is never restricted to pools")
    func adminUnrestricted() {
        let caller = CallerConfig(name: "root", role: .admin, pools: ["billing"], keyDigest: KeyDigest(hashing: "k"))
        #expect(caller.identity.pools == nil)
        #expect(caller.identity.mayUse(pool: "anything"))
        #expect(!caller.description.contains("sha256"))
    }
}
