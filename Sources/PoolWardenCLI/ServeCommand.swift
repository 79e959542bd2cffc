import ArgumentParser
import Foundation
import Logging
import PoolWardenHTTP
import PoolWardenRuntime
import ServiceLifecycle

/// `poolwarden serve`: runs the service from a config file until SIGTERM or SIGINT, then drains
/// in-flight requests, rolls back and closes every server connection, and exits 0. SIGHUP
/// reloads the file (see `ConfigReloader`).
struct ServeCommand: AsyncParsableCommand {
    /// Raises the soft limit on open files to the hard one (each client connection and each server
    /// connection is a descriptor) and returns it; 0 when it cannot be read.
    static func raiseFileLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return limit.rlim_cur == rlim_t.max ? Int.max : Int(clamping: limit.rlim_cur)
    }

    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the PoolWarden service.",
        discussion: "Callers and their keys, pools and server budgets come from the YAML config file; see deploy/poolwarden.example.yaml."
    )

    @Option(name: .long, help: "The YAML config file to run with.")
    var config: String?

    @Option(name: .long, help: "Validate this config file and exit: 0 when it is valid, 1 with every problem listed otherwise.")
    var checkConfig: String?

    @Option(name: .long, help: "Listen on this address instead of the config's listen.host.")
    var host: String?

    @Option(name: .long, help: "Listen on this port instead of the config's listen.port.")
    var port: Int?

    func validate() throws {
        if config == nil && checkConfig == nil { throw ValidationError("give --config FILE (or --check-config FILE)") }
        if config != nil && checkConfig != nil { throw ValidationError("give either --config or --check-config, not both") }
    }

    func run() async throws {
        if let path = checkConfig {
            let loaded = try load(path)
            if let settings = loaded.tls {
                do {
                    let tls = try ServerTLS(settings)
                    if let expiry = tls.certificateExpiry, expiry < Date() {
                        printError("\(path): warning: listen.tls.cert_file \(settings.certificateFile) expired on \(expiry): clients will refuse it")
                    }
                } catch {
                    printError("\(path): invalid config:\n\(error)")
                    throw ExitCode(1)
                }
            }
            print("\(path): valid — \(loaded.pools.count) pool(s), \(loaded.callers.count) caller(s), \(loaded.servers.count) server budget(s)")
            return
        }
        let loaded = try load(config!)
        let level = loaded.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "poolwarden")
        signal(SIGPIPE, SIG_IGN)
        // A SIGHUP before the application runs must not end the process; once it runs, it reloads.
        signal(SIGHUP, SIG_IGN)
        let files = Self.raiseFileLimit()
        logger.info("file descriptors", metadata: ["limit": "\(files)", "max_connections": "\(loaded.maxClientConnections)"])
        if files > 0, loaded.maxClientConnections > files {
            logger.warning(
                "listen.max_connections is above the process's file limit: connections beyond the limit fail to be accepted instead of being refused and counted",
                metadata: ["limit": "\(files)", "max_connections": "\(loaded.maxClientConnections)"]
            )
        }
        if loaded.callers.isEmpty {
            logger.warning("NO CALLERS ARE CONFIGURED: every request is treated as an admin, so PoolWarden listens on loopback only. Add callers with keys before exposing it.")
        }
        let tls = try startTLS(loaded, logger: logger)
        let (application, _) = try buildApplication(
            configuration: loaded, reloadSource: ConfigSource(path: config!, host: host, port: port), reloadOnHangUp: true,
            host: host, port: port, tls: tls, logger: logger
        )
        var groupConfiguration = ServiceGroupConfiguration(
            services: [.init(service: application)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        // In-flight requests get the grace period; then they are cancelled, and the pools still
        // roll back and close every server connection.
        groupConfiguration.maximumGracefulShutdownDuration = loaded.shutdownGrace
        let group = ServiceGroup(configuration: groupConfiguration)
        try await group.run()
        logger.info("stopped: every server connection was closed")
    }

    /// The listener's TLS, or nil with a loud warning when keys would travel in clear to another
    /// machine (still allowed: a mesh or an ingress may terminate TLS in front).
    private func startTLS(_ loaded: WardenConfig, logger: Logger) throws -> ServerTLS? {
        let address = try loaded.resolvedListen(host: host, port: port)
        guard let settings = loaded.tls else {
            if !address.isLoopback {
                logger.warning(
                    "LISTENING WITHOUT TLS ON A NON-LOOPBACK ADDRESS: bearer keys, lease tokens and SQL travel in clear. Set listen.tls, or terminate TLS in front (mesh, ingress) and keep this port private.",
                    metadata: ["address": "\(address)"]
                )
            }
            return nil
        }
        let tls: ServerTLS
        do {
            tls = try ServerTLS(settings)
        } catch {
            printError("\(config ?? ""): invalid config:\n\(error)")
            throw ExitCode(1)
        }
        var metadata: Logger.Metadata = [
            "cert_file": "\(settings.certificateFile)",
            "client_certificates": "\(settings.requiresClientCertificates ? "required" : "not asked for")",
        ]
        if let expiry = tls.certificateExpiry {
            metadata["not_after"] = "\(expiry)"
            if expiry < Date() { logger.warning("the TLS certificate has expired: clients will refuse it", metadata: metadata) }
        }
        logger.info("serving HTTPS", metadata: metadata)
        return tls
    }

    private func load(_ path: String) throws -> WardenConfig {
        do {
            return try ConfigLoader().load(file: path, host: host, port: port)
        } catch {
            printError("\(path): invalid config:\n\(error)")
            throw ExitCode(1)
        }
    }
}
