#if canImport(Glibc)
import Glibc
#endif
import Foundation
import PoolWardenHTTP
import PoolWardenRuntime
import TestPostgres
import Testing

/// Issue 14, item 2: clients that connect and do not finish a request, and more clients than the
/// service should hold, no longer keep sockets (and at ~20,000 of them, the service) for as long as
/// they like.
@Suite("HTTP clients are bounded: a request timeout, a connection cap, the file limit")
struct ClientLimitsTests {
    /// `ServiceHarness.yaml` with `settings` added to its `listen` mapping.
    static func yaml(_ settings: String, pools: String) -> String {
        ServiceHarness.yaml(pools: pools).replacing(#/ \}\ncallers:/#, with: ", \(settings) }\ncallers:")
    }

    /// Waits until every socket is closed by the service or `limit` has passed; the seconds each
    /// took (nil: still open).
    static func closeTimes(_ sockets: [RawHTTPClient], limit: Duration) async throws -> [Double?] {
        let started = ContinuousClock.now
        var times = [Double?](repeating: nil, count: sockets.count)
        while times.contains(where: { $0 == nil }) && ContinuousClock.now - started < limit {
            for (index, socket) in sockets.enumerated() where times[index] == nil && socket.peerClosed() {
                let elapsed = ContinuousClock.now - started
                times[index] = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return times
    }

    @Test("an idle socket, a half-sent header, a trickled body and an idle keep-alive connection are closed by request_timeout; a borrow waiting longer is not")
    func requestTimeout() async throws {
        let server = try await TestPostgres.server()
        let yaml = Self.yaml("request_timeout: 1s", pools: ServiceHarness.pool("limits", conninfo: server.conninfo(), extra: ["max": "1"]))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let port = try #require(api.client.port)
            let holder = try await api.borrow("limits", key: ServiceHarness.otherKey)
            let timeoutsBefore = try await api.metric("poolwarden_http_request_timeouts_total")

            let idle = try RawHTTPClient(port: port)
            let halfHeader = try RawHTTPClient(port: port)
            halfHeader.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            let trickle = try RawHTTPClient(port: port)
            let body = #"{"sql": "SELECT 1"}"#
            trickle.send("POST /v1/pools/limits/query HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(ServiceHarness.appKey)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body.prefix(5))")
            let keepAlive = try RawHTTPClient(port: port)
            keepAlive.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            let answered = try await TestPostgres.offThread { keepAlive.receive() }
            #expect(answered?.head.hasPrefix("HTTP/1.1 200") == true, "keep-alive: \(answered?.head ?? "no answer")")
            // A borrow that waits 3 s, three times the timeout: its request was read in full.
            let waiting = try RawHTTPClient(port: port)
            let borrow = #"{"wait_ms": 3000}"#
            waiting.send("POST /v1/pools/limits/leases HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(ServiceHarness.appKey)\r\nContent-Type: application/json\r\nContent-Length: \(borrow.utf8.count)\r\n\r\n\(borrow)")

            let sockets = [idle, halfHeader, trickle, keepAlive]
            #expect(sockets.allSatisfy { !$0.peerClosed() }, "closed before their timeout")
            let times = try await Self.closeTimes(sockets, limit: .seconds(20))
            print("ClientLimitsTests: closed after \(times.map { $0.map { String(format: "%.2f s", $0) } ?? "never" }) (request_timeout 1 s)")
            for (name, time) in zip(["an idle socket", "a half-sent header", "a trickled body", "an idle keep-alive connection"], times) {
                #expect(time != nil, "\(name) was not closed within 20 s")
            }
            let waited = try await TestPostgres.offThread { waiting.receive(timeout: .seconds(20)) }
            #expect(waited?.head.hasPrefix("HTTP/1.1 503") == true, "the waiting borrow: \(waited?.head ?? "closed without an answer") \(waited?.body ?? "")")
            #expect(try await api.metric("poolwarden_http_request_timeouts_total") >= timeoutsBefore + 4)
            for socket in sockets + [waiting] { socket.close() }
            #expect(try await api.send(.delete, "/v1/leases/\(holder)", key: ServiceHarness.otherKey).status == 204)
        }
    }

    /// The deadline is kept lazily (one timer per connection that, when it fires, looks at when
    /// the connection last became idle): a busy keep-alive connection must neither be cut by a
    /// timer armed before its latest answer nor be left open once it goes quiet.
    @Test("a keep-alive connection busy for longer than request_timeout stays open, and is closed a whole timeout after its last answer, not never")
    func busyKeepAliveConnection() async throws {
        let server = try await TestPostgres.server()
        let yaml = Self.yaml("request_timeout: 1s", pools: ServiceHarness.pool("busy", conninfo: server.conninfo(), extra: ["max": "1"]))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let port = try #require(api.client.port)
            let client = try RawHTTPClient(port: port)
            defer { client.close() }
            let started = ContinuousClock.now
            var lastAnswer = started
            func ask() async throws {
                client.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                let answered = try await TestPostgres.offThread { client.receive(timeout: .seconds(10)) }
                try #require(answered?.head.hasPrefix("HTTP/1.1 200") == true, "closed while busy, \(ContinuousClock.now - started) in")
                lastAnswer = ContinuousClock.now
            }
            while ContinuousClock.now - started < .milliseconds(2500) {
                try await ask()
                try await Task.sleep(for: .milliseconds(100))
            }
            // Two answers back to back: the last one finds the timer armed before it, which must
            // then wait for the rest of the timeout rather than give up.
            try await ask()
            try await ask()
            let quietSince = ContinuousClock.now - lastAnswer
            let times = try await Self.closeTimes([client], limit: .seconds(20))
            let closed = try #require(times[0], "not closed within 20 s of going quiet")
            let sinceAnswer = quietSince + .milliseconds(Int64(closed * 1000))
            #expect(sinceAnswer >= .milliseconds(950), "closed \(sinceAnswer) after its last answer, request_timeout 1 s")
        }
    }

    @Test("beyond max_connections a connection is closed as soon as it is accepted, and counted; the ones within stay and are served")
    func connectionCap() async throws {
        let server = try await TestPostgres.server()
        let yaml = Self.yaml("request_timeout: 60s, max_connections: 20", pools: ServiceHarness.pool("cap", conninfo: server.conninfo()))
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let port = try #require(api.client.port)
            // The test's own client holds one connection, kept alive between its requests.
            let refusedBefore = try await api.metric("poolwarden_http_connections_refused_total")
            var sockets: [RawHTTPClient] = []
            for _ in 0..<25 { sockets.append(try RawHTTPClient(port: port)) }
            let times = try await Self.closeTimes(sockets, limit: .seconds(5))
            let closed = times.compactMap { $0 }.count
            print("ClientLimitsTests: \(closed) of 25 connections over a cap of 20 closed at once")
            #expect((5...7).contains(closed), "25 sockets and the test client's own connections (0 to 2) against a cap of 20")
            // Which ones are refused depends on the order two event loops accept them; the others
            // stay, and are served.
            let kept = try #require(zip(sockets, times).first { $0.1 == nil }?.0)
            kept.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            let answer = try await TestPostgres.offThread { kept.receive() }
            #expect(answer?.head.hasPrefix("HTTP/1.1 200") == true, "a connection within the cap: \(answer?.head ?? "no answer")")
            #expect(try await api.metric("poolwarden_http_connections_refused_total") >= refusedBefore + closed)
            for socket in sockets { socket.close() }
            var healthy = false
            for _ in 0..<100 where !healthy {
                healthy = (try? await api.send(.get, "/healthz", key: nil).status) == 200
                if !healthy { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(healthy, "answers again once the sockets are gone")
        }
    }

    @Test("a flood of idle sockets and half-sent headers: /healthz and borrows keep answering, and every socket is closed by its deadline")
    func flood() async throws {
        let server = try await TestPostgres.server()
        let yaml = Self.yaml("request_timeout: 2s", pools: ServiceHarness.pool("flood", conninfo: server.conninfo(), extra: ["min": "1"]))
        // Each socket is two descriptors in this process (client and service side).
        var files = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &files)
        if files.rlim_cur < files.rlim_max {
            files.rlim_cur = files.rlim_max
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &files)
        }
        let idleCount = min(2_000, Int(clamping: files.rlim_cur) / 4)
        let slowCount = idleCount / 10
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let port = try #require(api.client.port)
            var sockets: [RawHTTPClient] = []
            for index in 0..<(idleCount + slowCount) {
                let socket = try RawHTTPClient(port: port, from: "127.0.0.2")
                if index >= idleCount { socket.send("POST /v1/pools/flood/query HTTP/1.1\r\nHost: 127.0.0.1\r\n") }
                sockets.append(socket)
            }
            let opened = ContinuousClock.now
            var slowest: Duration = .zero
            for _ in 0..<5 {
                let started = ContinuousClock.now
                #expect(try await api.send(.get, "/healthz", key: nil).status == 200)
                let token = try await api.borrow("flood")
                #expect(try await api.send(.delete, "/v1/leases/\(token)", key: ServiceHarness.appKey).status == 204)
                slowest = max(slowest, ContinuousClock.now - started)
            }
            print("ClientLimitsTests: \(idleCount) idle sockets and \(slowCount) half-sent headers open; slowest /healthz + borrow + release: \(slowest)")
            let times = try await Self.closeTimes(sockets, limit: .seconds(30))
            let open = times.filter { $0 == nil }.count
            print("ClientLimitsTests: all but \(open) closed \(ContinuousClock.now - opened) after the flood was open; request_timeout 2 s")
            #expect(open == 0, "\(open) sockets still open 30 s after their 2 s deadline")
            for socket in sockets { socket.close() }
        }
    }
}

extension RawHTTPClient {
    /// Whether the service has closed this connection: a peek that sees the end of the stream (or a
    /// reset), never waiting.
    func peerClosed() -> Bool {
        var byte: UInt8 = 0
        let count = recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        if count == 0 { return true }
        if count < 0 { return errno != EAGAIN && errno != EWOULDBLOCK }
        return false
    }
}
