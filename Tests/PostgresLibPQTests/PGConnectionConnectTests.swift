#if canImport(Glibc)
import Glibc
#endif
import Foundation
import PostgresLibPQ
import TestPostgres
import Testing

// Own thread: the bounds are the driver's deadlines, which the reactor keeps; on the shared
// cooperative pool the test task's own wake-ups would be measured too.
@Suite("Connecting", .ownThread)
struct PGConnectionConnectTests {
    @Test("conninfo string and postgresql:// URI both connect")
    func connectsWithConninfoAndURI() async throws {
        let server = try await TestPostgres.server()
        let byConninfo = try await PGConnection.connect(PGConnectOptions(conninfo: server.conninfo(), password: server.password))
        defer { byConninfo.close() }
        #expect(byConninfo.backendPID > 0)
        #expect(byConninfo.serverVersion >= 100_000)

        let uri = "postgresql://\(server.user)@\(server.host):\(server.port)/postgres"
        let byURI = try await PGConnection.connect(PGConnectOptions(conninfo: uri, password: server.password, applicationName: "uri-test"))
        defer { byURI.close() }
        let name = try await byURI.query("SELECT current_setting('application_name')")
        #expect(name.rows == [[.string("uri-test")]])
        #expect(byURI.backendPID != byConninfo.backendPID)
    }

    @Test("a wrong password fails cleanly and the password never shows")
    func wrongPasswordIsRedacted() async throws {
        let server = try await TestPostgres.server()
        let role = "pw_\(UInt32.random(in: 0...UInt32.max))"
        try await server.execute("CREATE ROLE \(role) LOGIN PASSWORD 'right-Secret-1'")
        let secret = "hunter2-Wrong-Secret"
        let error = try await #require(throws: PGError.self) {
            try await PGConnection.connect(PGConnectOptions(conninfo: server.conninfo(user: role), password: secret))
        }
        #expect(error.kind == .connectFailed)
        #expect(error.message.contains("password authentication failed"))
        #expect(!String(describing: error).contains(secret))
        #expect(!error.connectionUsable)

        let embedded = "postgresql://\(role):\(secret)@\(server.host):\(server.port)/postgres"
        let uriError = try await #require(throws: PGError.self) {
            try await PGConnection.connect(PGConnectOptions(conninfo: embedded))
        }
        #expect(!String(describing: uriError).contains(secret))

        let good = try await PGConnection.connect(PGConnectOptions(conninfo: server.conninfo(user: role), password: "right-Secret-1"))
        good.close()
    }

    @Test("an unknown database fails with the server's message")
    func unknownDatabase() async throws {
        let server = try await TestPostgres.server()
        let error = try await #require(throws: PGError.self) {
            try await PGConnection.connect(PGConnectOptions(conninfo: server.conninfo(database: "no_such_db_here"), password: server.password))
        }
        #expect(error.kind == .connectFailed)
        #expect(error.message.contains("no_such_db_here"))
        #expect(error.message.contains("does not exist"))
    }

    @Test("a malformed conninfo is refused without echoing its password")
    func malformedConninfo() async throws {
        let error = try await #require(throws: PGError.self) {
            try await PGConnection.connect(PGConnectOptions(conninfo: "host=127.0.0.1 password=Sup3rSecret bogus_option=1"))
        }
        #expect(error.kind == .connectFailed)
        #expect(error.message.contains("bogus_option"))
        #expect(!error.message.contains("Sup3rSecret"))
    }

    @Test("refused connections fail fast")
    func refusedPort() async throws {
        let port = try FreeListener.unusedPort()
        let error = try await #require(throws: PGError.self) {
            try await PGConnection.connect(PGConnectOptions(conninfo: "host=127.0.0.1 port=\(port) user=x dbname=x"))
        }
        #expect(error.kind == .connectFailed)
        #expect(error.message.contains("refused"))
    }

    @Test("the connect deadline holds against a socket that never answers")
    func deadlineAgainstSilentServer() async throws {
        let listener = try FreeListener()
        defer { listener.close() }
        let started = ContinuousClock.now
        let error = try await #require(throws: PGError.self) {
            try await PGConnection.connect(PGConnectOptions(
                conninfo: "host=127.0.0.1 port=\(listener.port) user=x dbname=x",
                connectTimeout: .milliseconds(500)
            ))
        }
        let elapsed = started.duration(to: .now)
        #expect(error.kind == .connectTimeout)
        #expect(elapsed >= .milliseconds(450))
        #expect(elapsed < .seconds(3))
    }

    @Test("connect_timeout in the conninfo is honoured as the deadline")
    func conninfoTimeout() async throws {
        let listener = try FreeListener()
        defer { listener.close() }
        let started = ContinuousClock.now
        let error = try await #require(throws: PGError.self) {
            try await PGConnection.connect(PGConnectOptions(conninfo: "host=127.0.0.1 port=\(listener.port) user=x dbname=x connect_timeout=2"))
        }
        #expect(error.kind == .connectTimeout)
        #expect(started.duration(to: .now) < .seconds(5))
    }

    @Test("cancelling the task stops a connect that hangs")
    func cancelledConnect() async throws {
        let listener = try FreeListener()
        defer { listener.close() }
        let task = Task {
            try await PGConnection.connect(PGConnectOptions(conninfo: "host=127.0.0.1 port=\(listener.port) user=x dbname=x", connectTimeout: .seconds(30)))
        }
        try await Task.sleep(for: .milliseconds(200))
        let started = ContinuousClock.now
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
        #expect(started.duration(to: .now) < .seconds(2))
    }

    @Test("a hundred connects in flight at once")
    func manyConcurrentConnects() async throws {
        let server = try await TestPostgres.server()
        let pids = try await withThrowingTaskGroup(of: Int32.self) { group in
            for _ in 0..<100 {
                group.addTask {
                    let connection = try await server.connect()
                    defer { connection.close() }
                    return connection.backendPID
                }
            }
            return try await group.reduce(into: Set<Int32>()) { $0.insert($1) }
        }
        #expect(pids.count == 100)
    }
}

/// A TCP socket that listens on loopback and never accepts: the kernel completes the handshake,
/// then nothing ever answers.
final class FreeListener: Sendable {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() { _ = Glibc.close(fd) }

    /// A port nothing listens on (bound, then released).
    static func unusedPort() throws -> Int {
        let listener = try FreeListener()
        listener.close()
        return listener.port
    }
}
