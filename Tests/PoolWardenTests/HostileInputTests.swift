import Foundation
import PoolWardenHTTP
import PoolWardenRuntime
import Synchronization
import TestPostgres
import Testing

/// Hostile input on every route that takes a body, and in paths: each request gets a clear 4xx
/// `application/problem+json` with its stable `code` — never a 5xx, a hang or a dropped
/// connection — and afterwards the service is up, nothing was created or changed, and a lease in
/// the middle of a transaction goes on as if nothing had happened.
@Suite("Hostile input: a clear 4xx problem, the service and a lease in use unharmed")
struct HostileInputTests {
    /// The seven operations that take a body, each with a field where a hostile value can go and
    /// a body that would be accepted, so a case differs from an accepted request by one thing.
    /// Several would hurt if a broken body slipped through: an immediate recycle or a 1 ms renew
    /// would end the watched lease, a patch would change the pool, a create would add one.
    struct Route: Sendable {
        let name: String
        let method: String
        let path: String
        let field: String
        /// An accepted body with `@` where a value of `field` goes.
        let template: String

        func body(_ value: String) -> [UInt8] { Array(template.replacingOccurrences(of: "@", with: value).utf8) }
        func body(bytes value: [UInt8]) -> [UInt8] {
            let parts = template.components(separatedBy: "@")
            return Array(parts[0].utf8) + value + Array(parts[1].utf8)
        }
    }

    static func routes(token: String) -> [Route] {
        [
            Route(name: "createPool", method: "POST", path: "/v1/pools", field: "conninfo", template: #"{"name": "fresh", "conninfo": @, "max": 1}"#),
            Route(name: "updatePool", method: "PATCH", path: "/v1/pools/main", field: "max", template: #"{"max": @}"#),
            Route(name: "recyclePool", method: "POST", path: "/v1/pools/main/recycle", field: "mode", template: #"{"mode": @}"#),
            Route(name: "borrowLease", method: "POST", path: "/v1/pools/main/leases", field: "key", template: #"{"ttl_ms": 60000, "key": @}"#),
            Route(name: "queryPool", method: "POST", path: "/v1/pools/main/query", field: "params", template: #"{"sql": "INSERT INTO t VALUES (99)", "params": @}"#),
            Route(name: "renewLease", method: "POST", path: "/v1/leases/\(token)/renew", field: "ttl_ms", template: #"{"ttl_ms": @}"#),
            Route(name: "queryLease", method: "POST", path: "/v1/leases/\(token)/query", field: "params", template: #"{"sql": "INSERT INTO t VALUES (99)", "params": @}"#),
        ]
    }

    /// What each case may do to the service, checked after all of a test's cases.
    struct Fixture: Sendable {
        let port: Int
        let token: String
        let api: APIClient
        let sent = Tally()

        func send(_ method: String, _ path: String, body: [UInt8]? = nil, contentType: String? = "application/json", key: String? = ServiceHarness.adminKey, chunkSize: Int? = nil) async throws -> RawExchange.Response {
            sent.add()
            return try await RawExchange.send(port: port, method, path, key: key, contentType: contentType, body: body, chunkSize: chunkSize)
        }

        /// `answer` is the problem `status` (any 4xx when nil) with `code`.
        func expectProblem(_ answer: RawExchange.Response, _ status: Int?, _ code: String?, _ label: String, sourceLocation: SourceLocation = #_sourceLocation) {
            if let status {
                #expect(answer.status == status, "\(label): \(answer.status) \(answer.text.prefix(300))", sourceLocation: sourceLocation)
            } else {
                #expect((400..<500).contains(answer.status), "\(label): \(answer.status) \(answer.text.prefix(300))", sourceLocation: sourceLocation)
            }
            #expect(answer.contentType == "application/problem+json", "\(label): content type \(answer.contentType ?? "none")", sourceLocation: sourceLocation)
            #expect(answer.json["status"] as? Int == answer.status, "\(label): \(answer.text.prefix(300))", sourceLocation: sourceLocation)
            if let code {
                #expect(answer.code == code, "\(label): code \(answer.code ?? "none")", sourceLocation: sourceLocation)
            } else {
                #expect(answer.code != nil, "\(label): no code in \(answer.text.prefix(300))", sourceLocation: sourceLocation)
            }
        }

        /// Sends every body to every route: each must be a 400 invalid_request.
        func expectInvalid(_ cases: [(String, (Route) -> [UInt8]?)], sourceLocation: SourceLocation = #_sourceLocation) async throws {
            for route in HostileInputTests.routes(token: token) {
                for (label, make) in cases {
                    guard let body = make(route) else { continue }
                    let answer = try await send(route.method, route.path, body: body)
                    expectProblem(answer, 400, "invalid_request", "\(route.name) \(label)", sourceLocation: sourceLocation)
                }
            }
        }
    }

    /// A service with pool `main` (max 2) and a lease inside a transaction with one inserted row;
    /// after `body`, the lease must still be usable, its transaction intact, and nothing else
    /// changed: no pool created, `main` unchanged, no other lease, no row from a hostile request.
    static func withService(_ label: String, _ body: @Sendable (Fixture) async throws -> Void) async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase(prefix: "hi")
        try await server.execute("CREATE TABLE t (id int)", database: database)
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo(database: database), extra: ["max": "2", "lease_ttl": "120s"]))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let token = try await api.borrow("main", body: #"{"ttl_ms": 120000}"#)
            #expect(try await api.query(token, "BEGIN").status == 200)
            #expect(try await api.query(token, "INSERT INTO t VALUES (1)").status == 200)
            let fixture = Fixture(port: try #require(api.client.port), token: token, api: api)
            try await body(fixture)
            print("HostileInputTests: \(label): \(fixture.sent.count) hostile requests")

            #expect(try await api.send(.get, "/healthz", key: nil).status == 200, "the service is up")
            #expect(try await api.query(token, "INSERT INTO t VALUES (2)").status == 200, "the lease is still usable")
            let inside = try await api.query(token, "SELECT count(*) FROM t")
            #expect((inside["rows"] as? [[Any]])?.first?.first as? Int == 2, "its transaction is intact: \(inside.text)")
            #expect(try await api.query(token, "COMMIT").status == 200)
            #expect(try await api.send(.delete, "/v1/leases/\(token)", key: ServiceHarness.appKey).status == 204)
            let pools = try await api.send(.get, "/v1/pools")["pools"] as? [[String: Any]] ?? []
            #expect(pools.compactMap { $0["name"] as? String } == ["main"], "no pool was created")
            let main = pools.first ?? [:]
            #expect((main["limits"] as? [String: Any])?["max"] as? Int == 2, "the pool is unchanged: \(main)")
            #expect((main["counts"] as? [String: Any])?["leased"] as? Int == 0, "no other lease was granted")
            #expect((main["totals"] as? [String: Any])?["revoked"] as? Int == 0, "no lease was revoked")
        }
        #expect(try await server.execute("SELECT id FROM t ORDER BY id", database: database).rows == [[.int(1)], [.int(2)]], "only the lease's rows")
    }

    final class Tally: Sendable {
        private let value = Mutex(0)
        func add() { value.withLock { $0 += 1 } }
        var count: Int { value.withLock { $0 } }
    }

    @Test("oversized bodies: 1.1 MB with a length on every route, 5 MB chunked → 413, without hanging the sender")
    func oversized() async throws {
        try await Self.withService("oversized") { fixture in
            let filler = "\"" + String(repeating: "x", count: 1_100_000) + "\""
            for route in Self.routes(token: fixture.token) {
                let answer = try await fixture.send(route.method, route.path, body: route.body(filler))
                fixture.expectProblem(answer, 413, "payload_too_large", "\(route.name) 1.1 MB")
            }
            // Chunked: no length to refuse up front, so the limit holds while the body streams. The
            // borrow route reads its body itself (see DisconnectCancellationMiddleware), the others
            // in ProblemMiddleware: one of each.
            let fiveMB = "\"" + String(repeating: "x", count: 5_000_000) + "\""
            for route in Self.routes(token: fixture.token) where route.name == "borrowLease" || route.name == "queryLease" {
                let chunked = try await fixture.send(route.method, route.path, body: route.body(fiveMB), chunkSize: 16384)
                fixture.expectProblem(chunked, 413, "payload_too_large", "\(route.name) 5 MB chunked")
            }
            // Just under the limit is read (and refused for what it says, not for its size).
            let under = "\"" + String(repeating: "x", count: 1_000_000) + "\""
            let read = try await fixture.send("POST", "/v1/pools/main/leases", body: Array(#"{"key": \#(under)}"#.utf8))
            fixture.expectProblem(read, 400, "invalid_request", "a 1 MB key")
        }
    }

    @Test("deeply nested JSON: 10,000 levels of arrays and objects, as the body and inside a field → 400")
    func deeplyNested() async throws {
        try await Self.withService("deeplyNested") { fixture in
            let depth = 10_000
            let arrays = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
            let objects = String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth)
            for route in Self.routes(token: fixture.token) {
                for (label, body) in [("nested arrays as the body", arrays), ("nested objects as the body", objects)] {
                    let answer = try await fixture.send(route.method, route.path, body: Array(body.utf8))
                    fixture.expectProblem(answer, 400, "invalid_request", "\(route.name) \(label)")
                }
            }
            try await fixture.expectInvalid([
                ("nested arrays in a field", { $0.body(arrays) }),
                ("nested objects in a field", { $0.body(objects) }),
                ("nested arrays as a parameter", { $0.field == "params" ? $0.body("[\(arrays)]") : nil }),
            ])
        }
    }

    @Test("invalid UTF-8 in SQL, parameters, keys and conninfo → 400")
    func invalidUTF8() async throws {
        try await Self.withService("invalidUTF8") { fixture in
            let sequences: [(String, [UInt8])] = [
                ("a lone continuation byte", [0x80]),
                ("a truncated sequence", [0xC3, 0x28]),
                ("0xFF", [0xFF]),
                ("an encoded surrogate", [0xED, 0xA0, 0x80]),
                ("an overlong slash", [0xC0, 0xAF]),
                ("a code point beyond U+10FFFF", [0xF4, 0x90, 0x80, 0x80]),
            ]
            for (label, bytes) in sequences {
                let quoted = [0x22] + Array("a".utf8) + bytes + Array("b".utf8) + [0x22]
                try await fixture.expectInvalid([
                    ("\(label) in the field", { route in
                        route.field == "params" ? route.body(bytes: [0x5B] + quoted + [0x5D]) : route.body(bytes: quoted)
                    }),
                ])
                for path in ["/v1/leases/\(fixture.token)/query", "/v1/pools/main/query"] {
                    let sql = Array(#"{"sql": "SELECT '"#.utf8) + bytes + Array(#"'"}"#.utf8)
                    let answer = try await fixture.send("POST", path, body: sql)
                    fixture.expectProblem(answer, 400, "invalid_request", "\(path) \(label) in SQL")
                }
            }
        }
    }

    @Test("NUL bytes in SQL, parameters, keys, pool names, conninfo and passwords → 400; huge params arrays → 4xx")
    func nulBytesAndHugeArrays() async throws {
        try await Self.withService("nulBytesAndHugeArrays") { fixture in
            let statement = ["/v1/leases/\(fixture.token)/query", "/v1/pools/main/query"]
            for path in statement {
                for (label, body) in [
                    ("escaped NUL in SQL", Array(#"{"sql": "INSERT INTO t VALUES (99)\u0000; DROP TABLE t"}"#.utf8)),
                    ("raw NUL in SQL", Array(#"{"sql": "INSERT INTO t VALUES (99)"#.utf8) + [0] + Array(#"; DROP TABLE t"}"#.utf8)),
                    ("NUL in a parameter", Array(#"{"sql": "INSERT INTO t VALUES ($1::int)", "params": ["9\u00009"]}"#.utf8)),
                    ("NUL in SQL and a parameter", Array(#"{"sql": "SELECT $1\u0000", "params": ["\u0000"]}"#.utf8)),
                ] {
                    fixture.expectProblem(try await fixture.send("POST", path, body: body), 400, "invalid_request", "\(path) \(label)")
                }
                // 70,000 parameters: more than the protocol's 65,535, refused before PostgreSQL.
                let many = Array(#"{"sql": "SELECT 1", "params": ["#.utf8) + Array(repeating: Array("1,".utf8), count: 69_999).flatMap { $0 } + Array("1]}".utf8)
                fixture.expectProblem(try await fixture.send("POST", path, body: many), nil, "invalid_request", "\(path) 70,000 params")
            }
            for (label, path, body) in [
                ("NUL in an idempotency key", "/v1/pools/main/leases", #"{"key": "k\u0000ey"}"#),
                ("a control character in a key", "/v1/pools/main/leases", #"{"key": "k\u0001ey"}"#),
                ("NUL in a pool name", "/v1/pools", #"{"name": "fr\u0000esh", "conninfo": "host=127.0.0.1"}"#),
                ("NUL in a conninfo", "/v1/pools", #"{"name": "fresh", "conninfo": "host=127.0.0.1\u0000 dbname=x"}"#),
                ("NUL in a password", "/v1/pools", #"{"name": "fresh", "conninfo": "host=127.0.0.1", "password": "se\u0000cret"}"#),
            ] {
                fixture.expectProblem(try await fixture.send("POST", path, body: Array(body.utf8)), 400, "invalid_request", label)
            }
            for (label, body) in [
                ("NUL in a patched conninfo", #"{"conninfo": "host=127.0.0.1\u0000 dbname=x"}"#),
                ("NUL in a patched password", #"{"password": "se\u0000cret"}"#),
            ] {
                fixture.expectProblem(try await fixture.send("PATCH", "/v1/pools/main", body: Array(body.utf8)), 400, "invalid_request", label)
            }
        }
    }

    @Test("unknown fields, wrong types, bodies that are not objects, overflowing numbers → 400")
    func wrongShapes() async throws {
        try await Self.withService("wrongShapes") { fixture in
            let valid: [String: String] = [
                "createPool": #"{"name": "fresh", "conninfo": "host=127.0.0.1", "max": 1"#,
                "updatePool": #"{"max": 3"#,
                "recyclePool": #"{"mode": "immediate""#,
                "borrowLease": #"{"ttl_ms": 60000"#,
                "queryPool": #"{"sql": "INSERT INTO t VALUES (99)""#,
                "renewLease": #"{"ttl_ms": 1"#,
                "queryLease": #"{"sql": "INSERT INTO t VALUES (99)""#,
            ]
            try await fixture.expectInvalid([
                ("an unknown field", { Array((valid[$0.name]! + #", "bogus": 1}"#).utf8) }),
                ("a misspelt field", { Array((valid[$0.name]! + #", "ttl": 5}"#).utf8) }),
                ("a string for the field", { $0.field == "conninfo" || $0.field == "key" || $0.field == "mode" ? nil : $0.body(#""5""#) }),
                ("a number for the field", { $0.field == "max" || $0.field == "ttl_ms" ? nil : $0.body("5") }),
                ("an object for the field", { $0.body(#"{"a": 1}"#) }),
                ("true for the field", { $0.body("true") }),
                ("a number too large for any integer", { $0.body("99999999999999999999999") }),
                ("1e400", { $0.body("1e400") }),
                ("-1e400", { $0.body("-1e400") }),
                ("a fraction", { $0.field == "params" ? nil : $0.body("1.5") }),
                ("Int64.max + 1", { $0.body("9223372036854775808") }),
                ("Int64.min - 1", { $0.body("-9223372036854775809") }),
                ("NaN", { $0.body("NaN") }),
                ("an array as the body", { _ in Array("[]".utf8) }),
                ("a string as the body", { _ in Array(#""{}""#.utf8) }),
                ("a number as the body", { _ in Array("5".utf8) }),
                ("null as the body", { _ in Array("null".utf8) }),
                ("true as the body", { _ in Array("true".utf8) }),
                ("truncated JSON", { Array(valid[$0.name]!.utf8) }),
                ("two documents", { Array((valid[$0.name]! + "}{}").utf8) }),
                ("a duplicate field", { Array((valid[$0.name]! + ", " + valid[$0.name]!.dropFirst() + "}").utf8) }),
                ("a trailing comma", { Array((valid[$0.name]! + ",}").utf8) }),
            ])
            // Numbers in range for JSON but not for the field.
            for (label, method, path, body) in [
                ("ttl_ms past Int64", "POST", "/v1/pools/main/leases", #"{"ttl_ms": 9223372036854775807}"#),
                ("negative wait", "POST", "/v1/pools/main/leases", #"{"wait_ms": -1}"#),
                ("zero ttl", "POST", "/v1/leases/\(fixture.token)/renew", #"{"ttl_ms": 0}"#),
                ("max 0", "PATCH", "/v1/pools/main", #"{"max": 0}"#),
                ("max past the limit", "PATCH", "/v1/pools/main", #"{"max": 10001}"#),
                ("older_than_ms overflowing", "POST", "/v1/pools/main/recycle", #"{"mode": "immediate", "older_than_ms": 1e400}"#),
                ("timeout_ms past a day", "POST", "/v1/leases/\(fixture.token)/query", #"{"sql": "SELECT 1", "timeout_ms": 86400001}"#),
                ("a parameter of 1e400", "POST", "/v1/leases/\(fixture.token)/query", #"{"sql": "SELECT $1::float8", "params": [1e400]}"#),
                ("an unknown recycle mode", "POST", "/v1/pools/main/recycle", #"{"mode": "immediately"}"#),
                ("a negative connect retry", "POST", "/v1/pools", #"{"name": "fresh", "conninfo": "host=127.0.0.1", "connect_retry": {"attempts": -1, "base_delay_ms": 1, "max_delay_ms": 1}}"#),
            ] {
                fixture.expectProblem(try await fixture.send(method, path, body: Array(body.utf8)), 400, "invalid_request", label)
            }
        }
    }

    @Test("long, NUL and ../ path segments → 4xx; text/plain bodies → 415")
    func pathsAndMediaTypes() async throws {
        try await Self.withService("pathsAndMediaTypes") { fixture in
            let longToken = "pwl_" + String(repeating: "A", count: 7_996)
            let longPool = String(repeating: "p", count: 8_000)
            for (label, method, path, code) in [
                ("an 8,000-character token", "GET", "/v1/leases/\(longToken)", "lease_not_found"),
                ("an 8,000-character token, query", "POST", "/v1/leases/\(longToken)/query", "lease_not_found"),
                ("an 8,000-character token, release", "DELETE", "/v1/leases/\(longToken)", "lease_not_found"),
                ("an 8,000-character pool name", "GET", "/v1/pools/\(longPool)", "pool_not_found"),
                ("an 8,000-character pool name, borrow", "POST", "/v1/pools/\(longPool)/leases", "pool_not_found"),
                ("%00 in a pool name", "GET", "/v1/pools/ma%00in", "pool_not_found"),
                ("%00 in a pool name, borrow", "POST", "/v1/pools/ma%00in/leases", "pool_not_found"),
                ("%00 as a pool name", "POST", "/v1/pools/%00/query", nil),
                ("%00 in a token", "GET", "/v1/leases/\(fixture.token.prefix(20))%00\(fixture.token.dropFirst(21))", "lease_not_found"),
                ("%00 after a token", "POST", "/v1/leases/\(fixture.token)%00/query", nil),
                ("encoded ../ as a pool name", "GET", "/v1/pools/..%2F..%2Fhealthz", nil),
                ("encoded ../ before a pool", "POST", "/v1/pools/..%2Fmain/leases", nil),
                ("encoded ../ with dots encoded", "GET", "/v1/pools/%2E%2E%2Fmain", nil),
                ("encoded ../ as a token", "DELETE", "/v1/leases/..%2F..%2Fpools%2Fmain", nil),
                ("encoded ../ after a token", "POST", "/v1/leases/\(fixture.token)%2F..%2F..%2Fpools%2Fmain/query", nil),
                ("a raw ../ to another pool route", "DELETE", "/v1/leases/../pools/main", nil),
            ] {
                let body: [UInt8]? = method != "POST" ? nil : path.hasSuffix("/leases") ? Array("{}".utf8) : Array(#"{"sql": "SELECT 1"}"#.utf8)
                let answer = try await fixture.send(method, path, body: body)
                fixture.expectProblem(answer, nil, code, label)
            }
            for route in Self.routes(token: fixture.token) {
                for type in ["text/plain", "text/plain; charset=utf-8", "application/xml", "multipart/form-data; boundary=x"] {
                    let answer = try await fixture.send(route.method, route.path, body: Array(#"{"ttl_ms": 1}"#.utf8), contentType: type)
                    fixture.expectProblem(answer, 415, "unsupported_media_type", "\(route.name) as \(type)")
                }
            }
        }
    }
}
