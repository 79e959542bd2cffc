#if canImport(Glibc)
import Glibc
#endif
import Foundation
import PoolWardenHTTP
import PoolWardenRuntime
import TestPostgres
import Testing

@Suite("HTTP: leases, queries and transactions against PostgreSQL")
struct HTTPLeaseTests {
    @Test("a transaction across three query calls commits; one left open is rolled back by release")
    func transactionsAcrossCalls() async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase()
        try await server.execute("CREATE TABLE t (id int, who text)", database: database)
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo(database: database)))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let token = try await api.borrow("main")
            #expect(token.hasPrefix("pwl_"))
            #expect(try await api.query(token, "BEGIN").status == 200)
            let insert = try await api.query(token, "INSERT INTO t VALUES ($1, $2)", "[1, \"committed\"]")
            #expect(insert.status == 200)
            #expect(insert["row_count"] as? Int == 1)
            #expect(try await api.query(token, "COMMIT").status == 200)
            #expect(try await api.send(.delete, "/v1/leases/\(token)", key: ServiceHarness.appKey).status == 204)

            let second = try await api.borrow("main")
            try await api.query(second, "BEGIN")
            try await api.query(second, "INSERT INTO t VALUES (2, 'never committed')")
            let lease = try await api.send(.get, "/v1/leases/\(second)", key: ServiceHarness.appKey)
            #expect(lease["transaction_status"] as? String == "in_transaction")
            #expect(try await api.send(.delete, "/v1/leases/\(second)", key: ServiceHarness.appKey).status == 204)
            let again = try await api.send(.delete, "/v1/leases/\(second)", key: ServiceHarness.appKey)
            #expect(again.status == 404)
            #expect(again.code == "lease_not_found")
        }
        let rows = try await server.execute("SELECT id FROM t ORDER BY id", database: database)
        #expect(rows.rows == [[.int(1)]])
    }

    @Test("values come back JSON-native with columns and command")
    func queryResultShape() async throws {
        let server = try await TestPostgres.server()
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo()))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let token = try await api.borrow("main")
            let answer = try await api.query(
                token,
                "SELECT $1::int AS n, $2::text AS s, $3::bool AS b, $4::int AS missing, '{\"k\": [1, 2]}'::jsonb AS doc, 9007199254740993::int8 AS big, 1.5::float8 AS f",
                "[7, \"héllo\", true, null]"
            )
            #expect(answer.status == 200)
            #expect(answer["command"] as? String == "SELECT")
            #expect(answer["row_count"] as? Int == 1)
            let columns = answer["columns"] as? [[String: Any]] ?? []
            #expect(columns.map { $0["name"] as? String } == ["n", "s", "b", "missing", "doc", "big", "f"])
            #expect(columns.first?["type"] as? String == "integer")
            let row = (answer["rows"] as? [[Any]])?.first ?? []
            #expect(row.count == 7)
            #expect(row[0] as? Int == 7)
            #expect(row[1] as? String == "héllo")
            #expect(row[2] as? Bool == true)
            #expect(row[3] is NSNull)
            #expect((row[4] as? [String: Any])?["k"] as? [Int] == [1, 2])
            #expect(row[5] as? String == "9007199254740993")
            #expect(row[6] as? Double == 1.5)
        }
    }

    @Test("an SQL error answers 422 with its SQLSTATE and the lease stays usable")
    func sqlErrorKeepsLease() async throws {
        let server = try await TestPostgres.server()
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo()))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let token = try await api.borrow("main")
            let failed = try await api.query(token, "SELECT * FROM no_such_table")
            #expect(failed.status == 422)
            #expect(failed.code == "sql_error")
            #expect(failed["sqlstate"] as? String == "42P01")
            #expect(failed.contentType == "application/problem+json")
            #expect(try await api.query(token, "SELECT 1").status == 200)
        }
    }

    @Test("a lease idle past its TTL is revoked: its insert is absent and its token answers 410")
    func ttlExpiry() async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase()
        try await server.execute("CREATE TABLE t (id int)", database: database)
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo(database: database)))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let token = try await api.borrow("main", body: #"{"ttl_ms": 300}"#)
            try await api.query(token, "BEGIN")
            try await api.query(token, "INSERT INTO t VALUES (1)")
            try await Task.sleep(for: .milliseconds(1200))
            let gone = try await api.query(token, "COMMIT")
            #expect(gone.status == 410)
            #expect(gone.code == "lease_gone")
            #expect(gone["reason"] as? String == "expired")
            #expect(try await api.send(.get, "/v1/leases/\(token)", key: ServiceHarness.appKey).status == 410)
        }
        #expect(try await server.execute("SELECT count(*) FROM t", database: database).rows == [[.int(0)]])
    }

    @Test("renew extends a lease; the same key returns the same lease")
    func renewAndIdempotentKey() async throws {
        let server = try await TestPostgres.server()
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo()))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let first = try await api.send(.post, "/v1/pools/main/leases", key: ServiceHarness.appKey, body: #"{"key": "nightly-42", "ttl_ms": 6000}"#)
            #expect(first.status == 201)
            let token = try #require(first["token"] as? String)
            let borrowed = ContinuousClock.now
            // Renewals 1.5 s apart carry the lease past its first 6 s TTL. The first comes at once
            // and each renews for 10 s: the pauses are this client's, which a loaded machine
            // stretches by seconds (two runs lost a 4 s lease, one beside busy loops before its
            // first renew, one in CI), and what is tested is that a renewal extends the lease,
            // not how punctual the client is. Each renew's time is in the failure message.
            for round in 0..<5 {
                if round > 0 { try await Task.sleep(for: .milliseconds(1500)) }
                let sent = ContinuousClock.now - borrowed
                let renewed = try await api.send(.post, "/v1/leases/\(token)/renew", key: ServiceHarness.appKey, body: #"{"ttl_ms": 10000}"#)
                #expect(renewed.status == 200, "renew \(round), sent \(sent) after the borrow, answered \(ContinuousClock.now - borrowed) after it: \(renewed.text)")
                // The full token is shown once, in the borrow answer; read back, by prefix only.
                #expect(renewed["token"] == nil && renewed["token_prefix"] as? String == String(token.prefix(12)), "\(renewed.text)")
            }
            #expect(ContinuousClock.now - borrowed > .seconds(6), "past the first TTL")
            let repeated = try await api.send(.post, "/v1/pools/main/leases", key: ServiceHarness.appKey, body: #"{"key": "nightly-42"}"#)
            #expect(repeated.status == 200)
            #expect(repeated["token"] as? String == token)
            let read = try await api.send(.get, "/v1/leases/\(token)", key: ServiceHarness.appKey)
            #expect(read.status == 200 && read["token"] == nil && read["token_prefix"] as? String == String(token.prefix(12)), "\(read.text)")
            #expect(try await api.query(token, "SELECT 1").status == 200)
        }
    }

    @Test("single-shot query borrows, runs and releases in one call")
    func singleShot() async throws {
        let server = try await TestPostgres.server()
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo()))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let answer = try await api.send(.post, "/v1/pools/main/query", key: ServiceHarness.appKey, body: #"{"sql": "SELECT $1::int + 1 AS n", "params": [41]}"#)
            #expect(answer.status == 200)
            #expect((answer["rows"] as? [[Any]])?.first?.first as? Int == 42)
            let status = try await api.send(.get, "/v1/pools/main")
            #expect((status["counts"] as? [String: Any])?["leased"] as? Int == 0)
        }
    }

    @Test("a borrow keeps its HTTP connection alive: borrow, query and release on one connection")
    func borrowKeepsAlive() async throws {
        let server = try await TestPostgres.server()
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo()))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let socket = try RawHTTPClient(port: try #require(api.client.port))
            defer { socket.close() }
            let auth = "Host: 127.0.0.1\r\nAuthorization: Bearer \(ServiceHarness.appKey)\r\n"
            socket.send("POST /v1/pools/main/leases HTTP/1.1\r\n\(auth)Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
            // Off the cooperative pool: the service under test runs on it too. The read outlasts
            // the borrow's own 5 s deadline, so that the service, not the reader, decides.
            let borrowed = try #require(try await TestPostgres.offThread { socket.receive(timeout: .seconds(20)) })
            #expect(borrowed.head.hasPrefix("HTTP/1.1 201"))
            #expect(!borrowed.head.lowercased().contains("connection: close"))
            let lease = try JSONSerialization.jsonObject(with: Data(borrowed.body.utf8)) as? [String: Any]
            let token = try #require(lease?["token"] as? String)
            let sql = #"{"sql":"SELECT 1"}"#
            socket.send("POST /v1/leases/\(token)/query HTTP/1.1\r\n\(auth)Content-Type: application/json\r\nContent-Length: \(sql.utf8.count)\r\n\r\n\(sql)")
            #expect(try await TestPostgres.offThread { socket.receive() }?.head.hasPrefix("HTTP/1.1 200") == true)
            socket.send("DELETE /v1/leases/\(token) HTTP/1.1\r\n\(auth)\r\n")
            #expect(try await TestPostgres.offThread { socket.receive() }?.head.hasPrefix("HTTP/1.1 204") == true)
        }
    }

    @Test("a client that hangs up while its borrow waits leaks nothing")
    func disconnectWhileWaiting() async throws {
        let server = try await TestPostgres.server()
        let yaml = ServiceHarness.yaml(pools: ServiceHarness.pool("main", conninfo: server.conninfo(), extra: ["max": "1"]))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let holder = try await api.borrow("main", key: ServiceHarness.otherKey)
            let port = try #require(api.client.port)
            let request = "POST /v1/pools/main/leases HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(ServiceHarness.appKey)\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"wait_ms\": 5000}"
            let socket = try RawHTTPClient(port: port)
            socket.send(request)
            var waiting = 0
            for _ in 0..<50 where waiting == 0 {
                try await Task.sleep(for: .milliseconds(20))
                waiting = (try await api.send(.get, "/v1/pools/main")["counts"] as? [String: Any])?["waiting"] as? Int ?? 0
            }
            #expect(waiting == 1)
            socket.close()
            // The hang-up must take the waiter out of the queue, well before its 5 s wait ends.
            for _ in 0..<100 where waiting != 0 {
                try await Task.sleep(for: .milliseconds(20))
                waiting = (try await api.send(.get, "/v1/pools/main")["counts"] as? [String: Any])?["waiting"] as? Int ?? -1
            }
            #expect(waiting == 0)
            try await api.send(.delete, "/v1/leases/\(holder)", key: ServiceHarness.otherKey)
            try await Task.sleep(for: .milliseconds(300))
            let counts = try await api.send(.get, "/v1/pools/main")["counts"] as? [String: Any]
            #expect(counts?["waiting"] as? Int == 0)
            #expect(counts?["leased"] as? Int == 0)
        }
    }
}

/// A bare TCP client, for hanging up mid-request the way a killed script does.
final class RawHTTPClient: Sendable {
    let fd: Int32

    /// `from`: a loopback address to connect from (bound before connecting). A flood of
    /// connections from 127.0.0.1 takes thousands of its ephemeral ports, one of which another
    /// test may have picked as free and not bound yet (a PostgreSQL started later failed so).
    init(port: Int, from local: String? = nil) throws {
        // Close-on-exec: tests spawn processes (pg_ctl, the poolwarden binary) while others hold
        // these sockets, and a child that inherited one would keep it open after `close()`, so
        // the service would never see the hang-up a test makes.
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        self.fd = fd
        if let local {
            var source = sockaddr_in()
            source.sin_family = sa_family_t(AF_INET)
            source.sin_addr.s_addr = inet_addr(local)
            let bound = withUnsafePointer(to: &source) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else { throw HarnessError("bind to \(local) failed: errno \(errno)") }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw HarnessError("connect failed: errno \(errno)") }
    }

    func send(_ text: String) {
        _ = text.withCString { Glibc.send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    }

    /// Reads one whole answer (head and a `Content-Length` body); nil when the service closes the
    /// connection or nothing complete arrives within `timeout`. Blocks: call it off the
    /// cooperative pool.
    func receive(timeout: Duration = .seconds(5)) -> (head: String, body: String)? {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now < deadline {
            if let end = buffer.firstRange(of: Array("\r\n\r\n".utf8)) {
                let head = String(decoding: buffer[..<end.lowerBound], as: UTF8.self)
                let length = head.split(separator: "\r\n")
                    .first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                if buffer.count - end.upperBound >= length {
                    return (head, String(decoding: buffer[end.upperBound..<(end.upperBound + length)], as: UTF8.self))
                }
            }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) >= 0 else { return nil }
            guard poller.revents != 0 else { continue }
            let count = recv(fd, &chunk, chunk.count, 0)
            guard count > 0 else { return nil }
            buffer.append(contentsOf: chunk[..<count])
        }
        return nil
    }

    func close() { _ = Glibc.close(fd) }
}
