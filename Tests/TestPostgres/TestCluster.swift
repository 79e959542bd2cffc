#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// A throwaway PostgreSQL cluster for tests: initdb into a temporary directory, started on a free
/// loopback port with durability off. As root it runs as the `postgres` OS user, since PostgreSQL
/// refuses root.
///
/// `pg_hba.conf` trusts the `postgres` superuser and asks every other role for its password, so
/// tests can exercise authentication failures.
public final class TestCluster: Sendable {
    public let directory: String
    public let port: Int
    public let binDirectory: String
    public let host = "127.0.0.1"
    public let superuser = "postgres"

    public var dataDirectory: String { directory + "/data" }
    public var logFile: String { directory + "/log" }

    private let settings: [String: String]

    private init(directory: String, port: Int, binDirectory: String, settings: [String: String]) {
        self.directory = directory
        self.port = port
        self.binDirectory = binDirectory
        self.settings = settings
    }

    /// Creates and starts a new cluster. `settings` become `-c` options of the server.
    public static func start(settings: [String: String] = [:]) throws -> TestCluster {
        let binDirectory = try findBinDirectory()
        var template = Array("/tmp/poolwarden-pg-XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else {
            throw TestClusterError("cannot create a temporary directory: errno \(errno)")
        }
        let directory = String(cString: created)
        if isRoot {
            try run("/bin/chown", ["postgres:postgres", directory])
        }
        chmod(directory, 0o700)
        let cluster = TestCluster(directory: directory, port: try freePort(), binDirectory: binDirectory, settings: settings)
        try cluster.initialize()
        try cluster.startServer()
        cluster.watchParent()
        return cluster
    }

    private func initialize() throws {
        try runAsPostgres(binDirectory + "/initdb", [
            "-D", dataDirectory, "--auth=trust", "-U", superuser, "-E", "UTF8", "--locale=C",
            "--no-sync", "--no-instructions",
        ])
        let hba = """
            local all all trust
            host all \(superuser) 127.0.0.1/32 trust
            host all all 127.0.0.1/32 scram-sha-256

            """
        try hba.write(toFile: dataDirectory + "/pg_hba.conf", atomically: false, encoding: .utf8)
    }

    /// Starts the server (again, after `stop()`), waiting until it accepts connections.
    public func startServer() throws {
        var options = [
            "-p \(port)", "-k \(directory)", "-c listen_addresses=127.0.0.1", "-c fsync=off",
            "-c synchronous_commit=off", "-c full_page_writes=off", "-c max_connections=400",
            "-c shared_buffers=64MB",
        ]
        for (key, value) in settings.sorted(by: { $0.key < $1.key }) { options.append("-c \(key)=\(value)") }
        let logged = (try? Data(contentsOf: URL(fileURLWithPath: logFile)).count) ?? 0
        do {
            try runAsPostgres(binDirectory + "/pg_ctl", [
                "-D", dataDirectory, "-l", logFile, "-w", "-t", "60", "-o", options.joined(separator: " "), "start",
            ])
        } catch {
            // pg_ctl only says "examine the log output", which goes with the directory.
            let log = (try? Data(contentsOf: URL(fileURLWithPath: logFile)))?.dropFirst(logged) ?? Data()
            throw TestClusterError("\(error)\nserver log:\n\(String(decoding: log.suffix(2000), as: UTF8.self))")
        }
    }

    /// Stops the server; `immediate` is a crash as far as clients can tell.
    public func stop(immediate: Bool = false) throws {
        try runAsPostgres(binDirectory + "/pg_ctl", ["-D", dataDirectory, "-w", "-m", immediate ? "immediate" : "fast", "stop"])
    }

    /// Kills the server without waiting (safe at process exit, where Foundation's Process hangs);
    /// the watcher started with the cluster removes the directory.
    public func kill() {
        guard let pidFile = try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8),
              let pid = pidFile.split(separator: "\n").first.flatMap({ Int32($0) }) else { return }
        _ = Glibc.kill(pid, SIGQUIT)
    }

    /// Stops the server and removes its directory.
    public func destroy() {
        try? stop(immediate: true)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A libpq conninfo for `database` as the superuser.
    public func conninfo(database: String = "postgres", user: String? = nil) -> String {
        "host=\(host) port=\(port) user=\(user ?? superuser) dbname=\(database)"
    }

    /// A shell process that outlives a crashed test run just long enough to stop this cluster.
    private func watchParent() {
        let stopCommand = commandLine(binDirectory + "/pg_ctl", ["-D", dataDirectory, "-m", "immediate", "stop"])
        let script = "while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done; \(stopCommand) >/dev/null 2>&1; rm -rf '\(directory)'"
        _ = try? Self.spawn("/usr/bin/setsid", ["/bin/sh", "-c", script])
    }

    private func commandLine(_ executable: String, _ arguments: [String]) -> String {
        let quoted = ([executable] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        return (Self.isRoot ? "runuser -u postgres -- " : "") + quoted.joined(separator: " ")
    }

    private func runAsPostgres(_ executable: String, _ arguments: [String]) throws {
        if Self.isRoot {
            try Self.run("/usr/sbin/runuser", ["-u", "postgres", "--", executable] + arguments, directory: directory)
        } else {
            try Self.run(executable, arguments, directory: directory)
        }
    }

    static var isRoot: Bool { geteuid() == 0 }

    /// Runs a command to completion with posix_spawn and waitpid. Not Foundation's Process: its
    /// wait misses the exit of a command whose child daemonizes (pg_ctl start). Output goes to a
    /// file, since the server would inherit a pipe and hold it open.
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], directory: String? = nil) throws -> String {
        let outputPath = NSTemporaryDirectory() + "poolwarden-cmd-\(UUID().uuidString).log"
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let pid = try spawn(executable, arguments, directory: directory, outputPath: outputPath)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw TestClusterError("waitpid failed: errno \(errno)") }
        }
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        let exited = status & 0x7f == 0
        let code = (status >> 8) & 0xff
        guard exited, code == 0 else {
            throw TestClusterError("\(executable) \(arguments.joined(separator: " ")) failed (status \(status)):\n\(text)")
        }
        return text
    }

    /// Starts a command without waiting for it; its output goes to `outputPath` (or nowhere).
    @discardableResult
    public static func spawn(_ executable: String, _ arguments: [String], directory: String? = nil, outputPath: String = "/dev/null") throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        SpawnActions.closeInherited(&actions)
        // posix_spawn_file_actions_addchdir_np is not visible to Swift; env(1) changes directory.
        let command = directory.map { ["/usr/bin/env", "-C", $0, executable] } ?? [executable]
        let argv = (command + arguments).map { strdup($0) }
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = (argv + [nil]).withUnsafeBufferPointer { pointers in
            posix_spawn(&pid, argv[0]!, &actions, nil, pointers.baseAddress!, environ)
        }
        guard result == 0 else { throw TestClusterError("cannot start \(executable): error \(result)") }
        return pid
    }

    static func findBinDirectory() throws -> String {
        let fileManager = FileManager.default
        if let explicit = ProcessInfo.processInfo.environment["POOLWARDEN_PG_BIN"] {
            guard fileManager.isExecutableFile(atPath: explicit + "/initdb") else {
                throw TestClusterError("POOLWARDEN_PG_BIN=\(explicit) holds no initdb")
            }
            return explicit
        }
        let root = "/usr/lib/postgresql"
        let versions = ((try? fileManager.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap(Int.init)
            .sorted(by: >)
        for version in versions where fileManager.isExecutableFile(atPath: "\(root)/\(version)/bin/initdb") {
            return "\(root)/\(version)/bin"
        }
        for path in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            if fileManager.isExecutableFile(atPath: "\(path)/initdb") && fileManager.isExecutableFile(atPath: "\(path)/pg_ctl") {
                return String(path)
            }
        }
        throw TestClusterError("""
            PostgreSQL server binaries (initdb, pg_ctl) were not found. The integration tests need a real \
            PostgreSQL: install it with `sudo apt-get install -y postgresql` (or run ./scripts/test, which \
            does), point POOLWARDEN_PG_BIN at the directory holding initdb, or set POOLWARDEN_TEST_DSN to \
            an existing server's conninfo.
            """)
    }

    /// Every port `freePort` has handed out in this process. A port is free only until its user
    /// binds it, and free again while a test has its server stopped (to restart it on the same
    /// port): another test asking meanwhile could be given it, and the restart then could not bind.
    private static let handedOut = Mutex<Set<Int>>([])

    /// A port nothing listens on, never the same twice in one test run.
    public static func freePort() throws -> Int {
        for _ in 0..<1000 {
            let port = try unusedPort()
            if handedOut.withLock({ $0.insert(port).inserted }) { return port }
        }
        throw TestClusterError("no port left that this test run has not handed out already")
    }

    private static func unusedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestClusterError("socket() failed: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw TestClusterError("bind() failed: errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Why a test cluster could not be set up.
public struct TestClusterError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
