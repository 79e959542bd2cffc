import Foundation
import PoolWardenHTTP
import PoolWardenRuntime
import TestPostgres
import Testing

/// Issue 13, item 5: every total in a pool's status equals its counter in `/metrics` (recycled
/// stayed 0 there while status said 12), and every metric family is described.
@Suite("Metrics: every status total equals its /metrics counter; every family has # HELP and # TYPE")
struct MetricsAgreementTests {
    /// Each total of `totals` in status and the counter that must equal it. A total missing here
    /// fails the test, so a new total cannot go without its metric.
    static let counters = [
        "borrows": "poolwarden_borrows_total",
        "timeouts": "poolwarden_borrow_timeouts_total",
        "connect_attempts": "poolwarden_connect_attempts_total",
        "connect_failures": "poolwarden_connect_failures_total",
        "expired": "poolwarden_leases_expired_total",
        "revoked": "poolwarden_leases_revoked_total",
        "recycled": "poolwarden_connections_recycled_total",
        "closed": "poolwarden_connections_closed_total",
    ]
    static let gauges = [
        "open": "poolwarden_connections_open",
        "idle": "poolwarden_connections_idle",
        "leased": "poolwarden_connections_leased",
        "opening": "poolwarden_connections_opening",
        "waiting": "poolwarden_waiting",
    ]

    /// `name{pool="pool"} value` samples of the exposition text, by name.
    static func samples(_ text: String, pool: String) -> [String: Int] {
        var values: [String: Int] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let brace = line.firstIndex(of: "{"), line.contains("pool=\"\(pool)\""),
                let value = line.split(separator: " ").last.flatMap({ Double($0) })
            else { continue }
            values[String(line[..<brace])] = Int(value)
        }
        return values
    }

    /// The pool's status totals and counts, from `GET /v1/pools/{pool}`.
    static func status(_ api: APIClient, _ pool: String) async throws -> (totals: [String: Int], counts: [String: Int]) {
        let answer = try await api.send(.get, "/v1/pools/\(pool)")
        let totals = try #require(answer["totals"] as? [String: Int], "\(answer.text)")
        let counts = try #require(answer["counts"] as? [String: Int], "\(answer.text)")
        return (totals, counts)
    }

    /// Compares status and `/metrics` for `pools` once nothing moves between two status reads
    /// around the scrape; returns the last status of each pool.
    @discardableResult
    static func expectAgreement(_ api: APIClient, pools: [String]) async throws -> [String: [String: Int]] {
        var last: [String: [String: Int]] = [:]
        for pool in pools {
            var agreed = false
            for _ in 0..<20 where !agreed {
                let before = try await status(api, pool)
                let metrics = try await api.send(.get, "/metrics", key: nil)
                let after = try await status(api, pool)
                guard before.totals == after.totals, before.counts == after.counts else {
                    try await Task.sleep(for: .milliseconds(100))
                    continue
                }
                agreed = true
                last[pool] = after.totals
                let values = samples(metrics.text, pool: pool)
                #expect(Set(after.totals.keys) == Set(counters.keys), "a status total without its counter: \(after.totals.keys.sorted())")
                for (total, metric) in counters {
                    #expect(values[metric] == after.totals[total], "\(pool): \(total) is \(after.totals[total] ?? -1) in status, \(metric) is \(values[metric].map(String.init) ?? "absent")")
                }
                for (count, metric) in gauges {
                    #expect(values[metric] == after.counts[count], "\(pool): counts.\(count) is \(after.counts[count] ?? -1), \(metric) is \(values[metric].map(String.init) ?? "absent")")
                }
            }
            #expect(agreed, "\(pool) never held still long enough to compare")
        }
        return last
    }

    @Test("borrows, releases, timeouts, revokes, recycles, expiries and connect failures: status and /metrics agree")
    func countersAgree() async throws {
        let server = try await TestPostgres.server()
        // Port 1: refused at once, and no test can take it meanwhile, as another could take a port
        // found free (once it did: the connect met someone else's server, and the borrow timed out).
        let dead = 1
        let pools = [
            ServiceHarness.pool("tally", conninfo: server.conninfo(), extra: ["max": "2"]),
            // Degraded, it probes again only after max_delay: its totals hold still for the comparison.
            ServiceHarness.pool("tally-down", conninfo: "host=127.0.0.1 port=\(dead) user=nobody dbname=none",
                                extra: ["connect_retry": "{ attempts: 2, base_delay: 10ms, max_delay: 60s }"]),
        ].joined(separator: "\n")
        try await ServiceHarness.run(yaml: ServiceHarness.yaml(pools: pools)) { api, _ in
            let first = try await api.borrow("tally")
            let second = try await api.borrow("tally")
            // Another caller: `app` holds its max_per_caller (max, 2) and would wait for itself.
            let exhausted = try await api.send(.post, "/v1/pools/tally/leases", key: ServiceHarness.otherKey, body: #"{"wait_ms": 100}"#)
            #expect(exhausted.code == "pool_exhausted", "\(exhausted.text)")
            #expect(try await api.send(.delete, "/v1/leases/\(first)", key: ServiceHarness.appKey).status == 204)
            #expect(try await Runtime.eventually { try await Self.status(api, "tally").counts["idle"] == 1 })
            // Immediate: the idle connection closes as recycled, the lease is revoked with its connection.
            let immediate = try await api.send(.post, "/v1/pools/tally/recycle", body: #"{"mode": "immediate"}"#)
            #expect(immediate["revoked"] as? Int == 1, "\(immediate.text)")
            #expect(try await api.query(second, "SELECT 1").status == 410)
            // A lease left idle past its ttl expires.
            let expiring = try await api.borrow("tally", body: #"{"ttl_ms": 100}"#)
            #expect(try await Runtime.eventually { try await Self.status(api, "tally").totals["expired"] == 1 })
            #expect(try await api.query(expiring, "SELECT 1").status == 410)
            // Graceful: idle connections close now.
            _ = try await api.send(.post, "/v1/pools/tally/query", key: ServiceHarness.appKey, body: #"{"sql": "SELECT 1"}"#)
            #expect(try await Runtime.eventually { try await Self.status(api, "tally").counts["idle"] ?? 0 > 0 })
            let graceful = try await api.send(.post, "/v1/pools/tally/recycle", body: #"{"mode": "graceful"}"#)
            #expect(graceful["closed"] as? Int ?? 0 > 0, "\(graceful.text)")
            // Connects that fail.
            let failed = try await api.send(.post, "/v1/pools/tally-down/leases", key: ServiceHarness.appKey, body: #"{"wait_ms": 1000}"#)
            #expect(failed.code == "connect_failed", "\(failed.text)")

            let totals = try await Self.expectAgreement(api, pools: ["tally", "tally-down"])
            // Every kind of event happened, or the comparison proved little.
            for total in ["borrows", "timeouts", "connect_attempts", "expired", "revoked", "recycled", "closed"] {
                #expect(totals["tally"]?[total] ?? 0 > 0, "tally: no \(total)")
            }
            #expect(totals["tally-down"]?["connect_failures"] ?? 0 > 0)
        }
    }

    @Test("a pool deleted and created again under its name starts its counters at zero, as its status does")
    func recreatedPoolStartsAtZero() async throws {
        let server = try await TestPostgres.server()
        let pools = ServiceHarness.pool("tally-base", conninfo: server.conninfo())
        try await ServiceHarness.run(yaml: ServiceHarness.yaml(pools: pools)) { api, _ in
            let create = #"{"name": "tally-again", "conninfo": "\#(server.conninfo())", "max": 2}"#
            let shot = #"{"sql": "SELECT 1"}"#
            #expect(try await api.send(.post, "/v1/pools", body: create).status == 201)
            for _ in 0..<3 { #expect(try await api.send(.post, "/v1/pools/tally-again/query", body: shot).status == 200) }
            _ = try await api.send(.get, "/metrics", key: nil)
            #expect(try await api.send(.delete, "/v1/pools/tally-again").status == 204)
            #expect(!(try await api.send(.get, "/metrics", key: nil)).text.contains("poolwarden_borrows_total{pool=\"tally-again\"}"), "the deleted pool's counters are gone")
            #expect(try await api.send(.post, "/v1/pools", body: create).status == 201)
            #expect(try await api.send(.post, "/v1/pools/tally-again/query", body: shot).status == 200)
            let totals = try await Self.expectAgreement(api, pools: ["tally-again"])
            #expect(totals["tally-again"]?["borrows"] == 1)
        }
    }

    @Test("every metric family in /metrics has a # HELP and a # TYPE line")
    func everyFamilyIsDescribed() async throws {
        let server = try await TestPostgres.server()
        let pools = ServiceHarness.pool("tally-help", conninfo: server.conninfo())
        let servers = "servers:\n  - { host: \(server.host), port: \(server.port), max_connections: 50 }"
        try await ServiceHarness.run(yaml: ServiceHarness.yaml(pools: pools, servers: servers)) { api, _ in
            // A borrow and a statement, so that the histograms have samples too.
            let token = try await api.borrow("tally-help")
            #expect(try await api.query(token, "SELECT 1").status == 200)
            let text = try await api.send(.get, "/metrics", key: nil).text
            var described: Set<String> = []
            var typed: Set<String> = []
            var sampled: Set<String> = []
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: " ", maxSplits: 3).map(String.init)
                if line.hasPrefix("# HELP "), fields.count >= 4, !fields[3].isEmpty {
                    described.insert(fields[2])
                } else if line.hasPrefix("# TYPE "), fields.count >= 4 {
                    typed.insert(fields[2])
                } else if !line.hasPrefix("#"), let name = fields.first?.split(separator: "{").first {
                    sampled.insert(String(name))
                }
            }
            #expect(!typed.isEmpty)
            #expect(typed == described, "without # HELP: \(typed.subtracting(described).sorted()); without # TYPE: \(described.subtracting(typed).sorted())")
            for name in sampled {
                // A histogram's samples are its family's name with a suffix.
                let family = ["_bucket", "_sum", "_count"].reduce(name) { name, suffix in
                    name.hasSuffix(suffix) && typed.contains(String(name.dropLast(suffix.count))) ? String(name.dropLast(suffix.count)) : name
                }
                #expect(typed.contains(family), "\(name) has no # TYPE")
            }
            for expected in Array(Self.counters.values) + Array(Self.gauges.values)
                + ["poolwarden_borrow_wait_seconds", "poolwarden_query_duration_seconds", "poolwarden_server_connections",
                   "poolwarden_server_max_connections", "poolwarden_notifications_discarded_total"]
            {
                #expect(described.contains(expected), "\(expected) is missing or undescribed")
            }
        }
    }
}
