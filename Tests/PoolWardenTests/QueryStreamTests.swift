import Foundation
import HTTPTypes
import PoolWardenRuntime
import Synchronization
import Testing
import TestPostgres

/// `POST /v1/pools/{pool}/query` answered as a stream (NDJSON, CSV): shapes, negotiation, failures
/// midway, limits, flat memory, and a reader that stops reading or hangs up.
@Suite("query streams")
struct QueryStreamTests {
    static let mebibyte = 1 << 20

    static func body(_ sql: String, timeoutMs: Int? = nil, waitMs: Int? = nil) -> String {
        var object: [String: Any] = ["sql": sql]
        if let timeoutMs { object["timeout_ms"] = timeoutMs }
        if let waitMs { object["wait_ms"] = waitMs }
        return String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    static func fixture(
        extra: [String: String] = [:],
        _ body: @Sendable (APIClient, Int) async throws -> Void
    ) async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase(prefix: "stream")
        let pools = [
            ServiceHarness.pool("p", conninfo: server.conninfo(database: database), extra: extra),
            ServiceHarness.pool("watch", conninfo: server.conninfo(database: database), extra: ["max": "1"]),
        ].joined(separator: "\n")
        try await ServiceHarness.run(yaml: ServiceHarness.yaml(pools: pools)) { api, _ in
            try await body(api, api.client.port ?? 0)
        }
    }

    static func stream(_ api: APIClient, _ sql: String, accept: String, pool: String = "p") async throws -> APIClient.Answer {
        try await api.send(.post, "/v1/pools/\(pool)/query", key: ServiceHarness.appKey, body: body(sql), headers: [.accept: accept])
    }

    static func lines(_ text: String) -> [Any] {
        text.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8), options: .fragmentsAllowed) }
    }

    /// Values of every kind the JSON answer types: ints, bigints, floats, numerics, booleans,
    /// NULL, empty and awkward strings, json, arrays, timestamps.
    static let typedRows = """
        SELECT * FROM (VALUES
          (1, 9007199254740993::bigint, 1.5::float8, 12.50::numeric, true, 'plain'::text, '{"b":1,"a":[1,null]}'::jsonb, ARRAY[1,2], '2024-01-02 03:04:05+00'::timestamptz),
          (2, NULL, NULL, NULL, false, '', 'null'::jsonb, ARRAY[]::int[], NULL),
          (3, -1, 2::float8, 0::numeric, NULL, E'a,b "q"\\nline2\\r', '"s"'::jsonb, NULL, NULL)
        ) AS t(i, big, f, n, b, s, j, arr, ts)
        """

    @Test("NDJSON: a header line with the columns, one array per row typed as in the JSON answer, a trailer with the command tag and row count")
    func ndjsonShape() async throws {
        try await Self.fixture { api, _ in
            let json = try await api.send(.post, "/v1/pools/p/query", key: ServiceHarness.appKey, body: Self.body(Self.typedRows))
            #expect(json.status == 200)
            let answer = try await Self.stream(api, Self.typedRows, accept: "application/x-ndjson")
            #expect(answer.status == 200)
            #expect(answer.contentType == "application/x-ndjson")
            #expect(answer.text.hasSuffix("\n"))
            let lines = Self.lines(answer.text)
            try #require(lines.count == 5, "\(answer.text)")
            let header = try #require(lines[0] as? [String: Any])
            #expect((header["columns"] as? NSArray) == (json["columns"] as? NSArray), "the columns as the JSON answer names them")
            #expect(NSArray(array: Array(lines[1...3])) == (json["rows"] as? NSArray), "each row as in the JSON answer: \(answer.text)")
            let trailer = try #require(lines[4] as? [String: Any])
            #expect(trailer["command_tag"] as? String == "SELECT")
            #expect(trailer["row_count"] as? Int == 3)
            // Exact text for the values whose spelling matters: NULL, empty and escaped strings.
            let rowLines = answer.text.split(separator: "\n")
            #expect(rowLines[2].contains(#",null,null,null,false,"","#))
            #expect(rowLines[3].contains(#""a,b \"q\"\nline2\r""#))
            #expect(rowLines[1].hasPrefix(#"[1,"9007199254740993",1.5,"12.50",true,"plain",{"a":[1,null],"b":1},"{1,2}","2024-01-02 03:04:05+00"]"#))

            let command = try await Self.stream(api, "CREATE TEMP TABLE t (x int)", accept: "application/x-ndjson")
            #expect(command.text == "{\"columns\":[]}\n{\"command_tag\":\"CREATE\",\"row_count\":0}\n")
            let empty = try await Self.stream(api, "SELECT 1 AS one WHERE false", accept: "application/x-ndjson")
            #expect(empty.text == "{\"columns\":[{\"name\":\"one\",\"type\":\"integer\",\"type_oid\":23}]}\n{\"command_tag\":\"SELECT\",\"row_count\":0}\n")
        }
    }

    @Test("CSV: RFC 4180 with a header row and CRLF; quoted fields with doubled quotes; NULL empty and unquoted, an empty string \"\"")
    func csvShape() async throws {
        try await Self.fixture { api, _ in
            let answer = try await Self.stream(api, Self.typedRows, accept: "text/csv")
            #expect(answer.status == 200)
            #expect(answer.contentType == "text/csv")
            // Values as the JSON answer has them: a jsonb string is its text, a jsonb null reads
            // as NULL (as in the JSON answer), arrays and timestamps are PostgreSQL's text.
            let expected = "i,big,f,n,b,s,j,arr,ts\r\n"
                + "1,9007199254740993,1.5,12.50,true,plain,\"{\"\"a\"\":[1,null],\"\"b\"\":1}\",\"{1,2}\",2024-01-02 03:04:05+00\r\n"
                + "2,,,,false,\"\",,{},\r\n"
                + "3,-1,2,0,,\"a,b \"\"q\"\"\nline2\r\",s,,\r\n"
            #expect(answer.text == expected, "\(answer.text.debugDescription)")
            let names = try await Self.stream(api, #"SELECT 1 AS "a,b", 2 AS "say ""hi""""#, accept: "text/csv")
            #expect(names.text == "\"a,b\",\"say \"\"hi\"\"\"\r\n1,2\r\n")
        }
    }

    @Test("Accept: JSON by default and for application/json, */* or a type the route does not offer (ignored, as on every route); a stream form by quality")
    func acceptNegotiation() async throws {
        try await Self.fixture { api, _ in
            let plain = try await api.send(.post, "/v1/pools/p/query", key: ServiceHarness.appKey, body: Self.body("SELECT 1 AS one"))
            #expect(plain.status == 200)
            #expect(plain.contentType == "application/json; charset=utf-8")
            #expect(try await Self.stream(api, "SELECT 1", accept: "*/*").contentType == "application/json; charset=utf-8")
            #expect(try await Self.stream(api, "SELECT 1", accept: "application/json, text/csv").contentType == "application/json; charset=utf-8")
            #expect(try await Self.stream(api, "SELECT 1", accept: "text/csv;q=0.5, application/x-ndjson").contentType == "application/x-ndjson")
            #expect(try await Self.stream(api, "SELECT 1", accept: "application/json;q=0.1, text/csv").contentType == "text/csv")
            let other = try await Self.stream(api, "SELECT 1", accept: "text/html")
            #expect(other.status == 200)
            #expect(other.contentType == "application/json; charset=utf-8")
        }
    }

    @Test("a failure before any row is the usual problem answer with its status; midway, NDJSON ends with an error line and no trailer")
    func failureMidway() async throws {
        try await Self.fixture { api, _ in
            let early = try await Self.stream(api, "SELECT 1/0", accept: "application/x-ndjson")
            #expect(early.status == 422)
            #expect(early.contentType == "application/problem+json")
            #expect(early["sqlstate"] as? String == "22012")
            let csvEarly = try await Self.stream(api, "SELECT nope", accept: "text/csv")
            #expect(csvEarly.status == 422)
            #expect(csvEarly.code == "sql_error")

            let answer = try await Self.stream(api, "SELECT 1/(g-1000) AS x FROM generate_series(1,2000) g", accept: "application/x-ndjson")
            #expect(answer.status == 200)
            let lines = Self.lines(answer.text)
            #expect(lines.count == 1 + 999 + 1, "the header, the rows before the failure, the error line")
            let last = try #require(lines.last as? [String: Any])
            let error = try #require(last["error"] as? [String: Any], "\(last)")
            #expect(error["code"] as? String == "sql_error")
            #expect(error["sqlstate"] as? String == "22012")
            #expect(error["status"] as? Int == 422)
            #expect(!answer.text.contains("command_tag"))
            #expect(try await api.send(.post, "/v1/pools/p/query", key: ServiceHarness.appKey, body: Self.body("SELECT 1")).status == 200)
        }
    }

    @Test("a CSV that fails midway is cut off: the rows before, and no last chunk")
    func csvCutOff() async throws {
        try await Self.fixture { _, port in
            let client = try RawHTTPClient(port: port)
            defer { client.close() }
            client.send(ChunkedBodyReader.request(pool: "p", sql: "SELECT 1/(g-1000) AS x FROM generate_series(1,2000) g", accept: "text/csv"))
            let (status, body, complete) = try await TestPostgres.offThread {
                let reader = ChunkedBodyReader(client: client)
                let (body, complete) = reader.readAll()
                return (reader.status, String(decoding: body, as: UTF8.self), complete)
            }
            #expect(status == 200)
            #expect(body.hasPrefix("x\r\n0\r\n0\r\n"))
            #expect(body.hasSuffix("\r\n"))
            #expect(!complete, "no terminating chunk: a client sees the transfer as truncated")
            #expect(body.split(separator: "\r\n").count <= 1000)
        }
    }

    @Test("max_stream_rows ends the stream with a result_too_large error line after that many rows; max_result_rows does not apply")
    func maxStreamRows() async throws {
        try await Self.fixture(extra: ["max_stream_rows": "100", "max_result_rows": "10"]) { api, _ in
            let answer = try await Self.stream(api, "SELECT g FROM generate_series(1,100000) g", accept: "application/x-ndjson")
            #expect(answer.status == 200)
            let lines = Self.lines(answer.text)
            #expect(lines.count == 1 + 100 + 1)
            let error = (lines.last as? [String: Any])?["error"] as? [String: Any]
            #expect(error?["code"] as? String == "result_too_large", "\(String(describing: lines.last))")
            #expect(try await api.send(.post, "/v1/pools/p/query", key: ServiceHarness.appKey, body: Self.body("SELECT 1")).status == 200)
        }
    }

    @Test("max_stream_bytes counts the values' text: 100-byte values against 1000 bytes end after 10 rows with a result_too_large error line")
    func maxStreamBytes() async throws {
        try await Self.fixture(extra: ["max_stream_bytes": "1000"]) { api, _ in
            let answer = try await Self.stream(api, "SELECT repeat('x',100) AS v FROM generate_series(1,1000) g", accept: "application/x-ndjson")
            #expect(answer.status == 200)
            let lines = Self.lines(answer.text)
            #expect(lines.count == 1 + 10 + 1, "\(lines.count) lines")
            let error = (lines.last as? [String: Any])?["error"] as? [String: Any]
            #expect(error?["code"] as? String == "result_too_large", "\(String(describing: lines.last))")
            #expect((error?["detail"] as? String)?.contains("1000 bytes") == true)
        }
    }

    // Part of the run alone (scripts/test-long): 2 million rows keep the service, PostgreSQL and
    // the reader busy for ~25 s of a debug build, which beside the suite's timing-bound tests took
    // the cores they measured with (a statement timeout's cancel came past its grace once).
    @Test(
        "2 million rows stream through a `poolwarden serve` process whose resident memory grows by less than 50 MB",
        .enabled(if: ProcessInfo.processInfo.environment["POOLWARDEN_LONG"] == "1", "part of the long run (POOLWARDEN_LONG=1, scripts/test-long)")
    )
    func flatMemory() async throws {
        // The real binary in a process of its own: in this process every suite running meanwhile
        // allocates into the same figure, which once read 77 MB for a stream that holds nothing.
        let server = try await TestPostgres.server()
        let port = try TestCluster.freePort()
        let directory = NSTemporaryDirectory() + "pw-stream-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/poolwarden.yaml"
        try """
            listen: { host: 127.0.0.1, port: \(port) }
            log_level: warning
            pools:
              - { name: p, conninfo: "\(server.conninfo())", max: 1, statement_timeout: 5m, max_statement_timeout: 10m }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let log = directory + "/log"
        let pid = try TestCluster.spawn(ServeProcessTests.binary, ["serve", "--config", config], outputPath: log)
        defer { kill(pid, SIGKILL); var status: Int32 = 0; waitpid(pid, &status, 0) }
        var healthy = false
        for _ in 0..<100 where !healthy {
            try await Task.sleep(for: .milliseconds(100))
            healthy = (try? await ServeProcessTests.request("GET", "http://127.0.0.1:\(port)/healthz"))?.status == 200
        }
        try #require(healthy, "the service did not come up: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        // A first small stream, so that what every stream allocates once is in the baseline.
        let warmUp = try await ServeProcessTests.request("POST", "http://127.0.0.1:\(port)/v1/pools/p/query", body: #"{"sql": "SELECT 1"}"#)
        #expect(warmUp.status == 200)
        let growth = try await Self.streamTwoMillion(port: port) { ProcessMemory.resident(of: pid) }
        print("stream of 2,000,000 rows: the serve process's resident memory grew by \(growth / 1024) KiB at most (sampled every 20 ms)")
        #expect(growth < 50_000_000, "grew by \(growth) bytes")
    }

    /// Streams 2 million rows through a raw socket, reading them as they come and keeping none;
    /// answers how far the resident memory rose above where it was at the start.
    static func streamTwoMillion(port: Int, resident: @escaping @Sendable () -> Int) async throws -> Int {
        let client = try RawHTTPClient(port: port)
        defer { client.close() }
        let before = resident()
        let highest = Mutex(before)
        let sampler = Task {
            while !Task.isCancelled {
                let now = resident()
                highest.withLock { $0 = max($0, now) }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        client.send(ChunkedBodyReader.request(
            pool: "p", sql: "SELECT g, repeat('x',20) FROM generate_series(1,2000000) g", accept: "application/x-ndjson", timeoutMs: 300_000
        ))
        let (status, lines, tail, complete) = try await TestPostgres.offThread {
            let reader = ChunkedBodyReader(client: client)
            var lines = 0
            var tail: [UInt8] = []
            while let piece = reader.next(timeout: .seconds(60)) {
                lines += piece.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
                tail = Array((tail + piece).suffix(200))
            }
            return (reader.status, lines, String(decoding: tail, as: UTF8.self), reader.ended)
        }
        sampler.cancel()
        #expect(status == 200)
        #expect(complete)
        #expect(lines == 2_000_002)
        #expect(tail.hasSuffix("{\"command_tag\":\"SELECT\",\"row_count\":2000000}\n"), "\(tail)")
        return highest.withLock { $0 } - before
    }

    /// Whether a single shot on the pool (max 1) is answered within `bound`: the connection is back.
    static func borrowSucceeds(_ api: APIClient, within bound: Duration) async throws -> Duration {
        let started = ContinuousClock.now
        let answer = try await api.send(
            .post, "/v1/pools/p/query", key: ServiceHarness.appKey,
            body: body("SELECT current_setting('application_name') AS n", waitMs: Int(bound.components.seconds * 1000))
        )
        #expect(answer.status == 200, "\(answer.text)")
        return ContinuousClock.now - started
    }

    /// Asks for a stream far longer than any socket buffer and reads about 100 kB of it; answers
    /// the client (still connected, no longer reading) and the answer's status.
    static func readALittle(port: Int, token: String? = nil, accept: String, timeoutMs: Int) async throws -> (RawHTTPClient, Int) {
        let client = try RawHTTPClient(port: port)
        client.send(ChunkedBodyReader.request(
            pool: "p", token: token, sql: "SELECT generate_series(1,50000000) AS g, repeat('x',100) AS x", accept: accept, timeoutMs: timeoutMs
        ))
        let status = try await TestPostgres.offThread {
            let reader = ChunkedBodyReader(client: client)
            var read = 0
            while read < 100_000, let piece = reader.next() { read += piece.count }
            return reader.status
        }
        return (client, status)
    }

    @Test("a reader that reads a little and stops holds PostgreSQL back (ClientWrite) and the connection only until the statement timeout; then it is back")
    func stopsReading() async throws {
        try await Self.fixture(extra: ["max": "1"]) { api, port in
            let (client, status) = try await Self.readALittle(port: port, accept: "application/x-ndjson", timeoutMs: 4000)
            defer { client.close() }
            #expect(status == 200)
            let started = ContinuousClock.now
            // Backpressure reaches the server: its backend waits to write to the service.
            var waiting = false
            for _ in 0..<30 where !waiting {
                try await Task.sleep(for: .milliseconds(100))
                let answer = try await api.send(
                    .post, "/v1/pools/watch/query", key: ServiceHarness.appKey,
                    body: Self.body("SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event = 'ClientWrite' AND query LIKE '%50000000%' AND pid <> pg_backend_pid()")
                )
                waiting = ((answer["rows"] as? [[Any]])?.first?.first as? Int ?? 0) == 1
            }
            #expect(waiting, "the server's backend waits on the service's reading (ClientWrite)")
            let took = try await Self.borrowSucceeds(api, within: .seconds(20))
            let sinceStall = ContinuousClock.now - started
            print("stalled reader: the pool's connection was back \(sinceStall) after the reader stopped (statement timeout 4 s)")
            #expect(sinceStall < .seconds(10), "back within the statement timeout and its grace: \(sinceStall), borrow \(took)")
        }
    }

    @Test("a reader that hangs up midway: the statement is cancelled and the connection is back at once, not at the 120 s timeout")
    func hangUpMidway() async throws {
        try await Self.fixture(extra: ["max": "1"]) { api, port in
            let (client, status) = try await Self.readALittle(port: port, accept: "text/csv", timeoutMs: 120_000)
            #expect(status == 200)
            client.close()
            let took = try await Self.borrowSucceeds(api, within: .seconds(20))
            print("hang-up midway: the next single shot was answered after \(took)")
            #expect(took < .seconds(3), "the hang-up, not the 120 s timeout, ended the statement: \(took)")
            let counts = try await api.send(.get, "/v1/pools/p")["counts"] as? [String: Any]
            #expect(counts?["leased"] as? Int == 0)
        }
    }

    @Test("a lease's query streams too, in the lease's session; a hang-up midway cancels the statement and leaves the lease usable at once")
    func leaseStream() async throws {
        try await Self.fixture { api, port in
            let token = try await api.borrow("p")
            #expect(try await api.query(token, "CREATE TEMP TABLE kept AS SELECT 7 AS v").status == 200)
            let answer = try await api.send(
                .post, "/v1/leases/\(token)/query", key: ServiceHarness.appKey, body: Self.body("SELECT v FROM kept"), headers: [.accept: "text/csv"]
            )
            #expect(answer.status == 200)
            #expect(answer.text == "v\r\n7\r\n")
            let (client, status) = try await Self.readALittle(port: port, token: token, accept: "application/x-ndjson", timeoutMs: 120_000)
            #expect(status == 200)
            client.close()
            let started = ContinuousClock.now
            var after = try await api.query(token, "SELECT v FROM kept")
            // A call while the cancelled statement is still draining is lease_busy, briefly.
            while after.status == 409, ContinuousClock.now - started < .seconds(3) {
                try await Task.sleep(for: .milliseconds(20))
                after = try await api.query(token, "SELECT v FROM kept")
            }
            let took = ContinuousClock.now - started
            print("lease hang-up midway: the lease answered again after \(took)")
            #expect(after.status == 200, "\(after.text)")
            #expect(took < .seconds(3), "the hang-up, not the 120 s timeout, ended the statement")
            #expect((after["rows"] as? [[Any]])?.first?.first as? Int == 7, "the lease's session is kept")
        }
    }

    @Test("max_stream_rows and max_stream_bytes: decoded (off allowed), defaults off and 1 GiB, rendered by GET /v1/config")
    func configKeys() async throws {
        let defaults = PoolSettings(name: "d", conninfo: "dbname=d")
        #expect(defaults.maxStreamRows == nil)
        #expect(defaults.maxStreamBytes == 1 << 30)
        let yaml = ServiceHarness.yaml(pools: [
            ServiceHarness.pool("a", conninfo: "dbname=a", extra: ["max_stream_rows": "5000", "max_stream_bytes": "off", "min": "0"]),
            ServiceHarness.pool("b", conninfo: "dbname=b", extra: ["max_stream_rows": "off", "max_stream_bytes": "2MiB", "min": "0"]),
        ].joined(separator: "\n"))
        let config = try ConfigLoader(environment: ServiceHarness.environment).load(yaml: yaml)
        let a = try #require(config.pools.first { $0.name == "a" })
        let b = try #require(config.pools.first { $0.name == "b" })
        #expect(a.maxStreamRows == 5000 && a.maxStreamBytes == nil)
        #expect(b.maxStreamRows == nil && b.maxStreamBytes == 2 << 20)
        #expect(throws: (any Error).self) {
            try ConfigLoader(environment: ServiceHarness.environment).load(
                yaml: ServiceHarness.yaml(pools: ServiceHarness.pool("c", conninfo: "dbname=c", extra: ["max_stream_rows": "0"]))
            )
        }
        try await ServiceHarness.run(yaml: yaml) { api, _ in
            let rendered = try await api.send(.get, "/v1/config").text
            #expect(rendered.contains("max_stream_rows: 5000\n    max_stream_bytes: off"), "\(rendered)")
            #expect(rendered.contains("max_stream_rows: off\n    max_stream_bytes: 2097152"), "\(rendered)")
        }
    }
}
