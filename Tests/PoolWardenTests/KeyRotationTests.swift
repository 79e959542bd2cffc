import Foundation
@testable import PoolWardenHTTP
@testable import PoolWardenRuntime
import TestPostgres
import Testing

/// Issue 14, item 3: a caller may hold several keys while a new one is rolled out; `/metrics`
/// counts each key's uses (by its place in the file, never the key) so that an operator sees when
/// the old one is no longer used, and refusals by reason.
@Suite("Keys that can be rotated: several per caller, each counted in /metrics")
struct KeyRotationTests {
    static let newKey = "rotation-new-key-0123456789"
    static let oldKey = "rotation-old-key-0123456789"
    static let digestKey = "rotation-digest-key-0123456789"

    /// `rotation-caller` has two keys from the environment and one as a digest. Its name is used
    /// by no other test, so its counters in the process-wide metrics are its own.
    static func yaml(pool: String) -> String {
        let digest = KeyDigest(hashing: digestKey).hex
        return ServiceHarness.yaml(pools: pool).replacingOccurrences(
            of: "callers:\n",
            with: "callers:\n  - { name: rotation-caller, role: client, key_env: [ROT_NEW, ROT_OLD], key_sha256: [\(digest)] }\n"
        )
    }

    @Test("each key borrows as the same caller; /metrics counts uses per key and refusals by reason; GET /v1/config writes the list back")
    func everyKeyWorksAndIsCounted() async throws {
        let server = try await TestPostgres.server()
        let environment = ServiceHarness.environment.merging(["ROT_NEW": Self.newKey, "ROT_OLD": Self.oldKey]) { $1 }
        let yaml = Self.yaml(pool: ServiceHarness.pool("rotation", conninfo: server.conninfo()))
        try await ServiceHarness.run(yaml: yaml, environment: environment) { api, _ in
            let failures = try await api.send(.get, "/metrics", key: nil).text
            let missingBefore = ServiceHarness.sample(#"poolwarden_authentication_failures_total{reason="missing"}"#, in: failures)
            let invalidBefore = ServiceHarness.sample(#"poolwarden_authentication_failures_total{reason="invalid"}"#, in: failures)

            // Three uses of the new key, one of the old, two of the digest's: each borrows as
            // rotation-caller, and the lease of one key is the caller's under every other key.
            var tokens: [String] = []
            for key in [Self.newKey, Self.newKey, Self.oldKey, Self.digestKey] {
                let lease = try await api.send(.post, "/v1/pools/rotation/leases", key: key, body: "{}")
                #expect(lease.status == 201, "\(lease.text)")
                #expect(lease["caller"] as? String == "rotation-caller")
                tokens.append(try #require(lease["token"] as? String))
            }
            #expect(try await api.query(tokens[2], "SELECT 1", key: Self.newKey).status == 200, "a lease borrowed with the old key, used with the new one")
            // The pool list's fast path counts its caller once, as the full path does.
            #expect(try await api.send(.get, "/v1/pools", key: Self.digestKey).status == 200)
            for token in tokens {
                #expect(try await api.send(.delete, "/v1/leases/\(token)", key: Self.oldKey).status == 204)
            }
            // Refusals, by reason; open routes (probes, /metrics) count nothing.
            #expect(try await api.send(.get, "/v1/pools/rotation", key: nil).status == 401)
            #expect(try await api.send(.get, "/v1/pools/rotation", key: "rotation-unknown-key").status == 401)
            #expect(try await api.send(.get, "/v1/pools", key: "rotation-unknown-key").status == 401)

            let metrics = try await api.send(.get, "/metrics", key: nil).text
            func uses(_ label: String) -> Int {
                ServiceHarness.sample(#"poolwarden_authentications_total{caller="rotation-caller",key="\#(label)"}"#, in: metrics)
            }
            // new: 2 borrows + 1 query; old: 1 borrow + 4 releases; digest: 1 borrow + 1 list.
            #expect(uses("key_env[0]") == 3, "\(metrics)")
            #expect(uses("key_env[1]") == 5)
            #expect(uses("key_sha256[0]") == 2)
            // Other tests run beside this one in the same process: at least this test's refusals.
            #expect(ServiceHarness.sample(#"poolwarden_authentication_failures_total{reason="missing"}"#, in: metrics) >= missingBefore + 1)
            #expect(ServiceHarness.sample(#"poolwarden_authentication_failures_total{reason="invalid"}"#, in: metrics) >= invalidBefore + 2)
            for secret in [Self.newKey, Self.oldKey, Self.digestKey, KeyDigest(hashing: Self.digestKey).hex] {
                #expect(!metrics.contains(secret), "a key or digest in /metrics")
            }

            // The running configuration names the keys as the file did, and loads back to the same.
            let config = try await api.send(.get, "/v1/config").text
            #expect(config.contains("key_env: [ROT_NEW, ROT_OLD]"), "\(config)")
            #expect(config.contains("key_sha256: \(KeyDigest(hashing: Self.digestKey).hex)"))
            let reloaded = try ConfigLoader(environment: environment).load(yaml: config)
            let rotating = try #require(reloaded.callers.first { $0.name == "rotation-caller" })
            #expect(rotating.keys.map(\.digest) == [Self.newKey, Self.oldKey, Self.digestKey].map { KeyDigest(hashing: $0) })
        }
    }

    @Test("every key of every caller is found, whatever its place; a key of none is refused")
    func everyKeyIsFound() throws {
        let callers = (0..<20).map { caller in
            CallerConfig(
                name: "c\(caller)",
                role: .client,
                keys: (0..<3).map { key in CallerKey(digest: KeyDigest(hashing: "key-\(caller)-\(key)"), source: .digest, index: key) }
            )
        }
        let registry = CallerRegistry(callers: callers)
        for caller in 0..<20 {
            for key in 0..<3 {
                #expect(try registry.authenticate(authorizationHeader: "Bearer key-\(caller)-\(key)").get().name == "c\(caller)")
            }
        }
        #expect(registry.authenticate(authorizationHeader: "Bearer key-20-0") == .failure(.unauthorized("invalid key")))
    }
}
