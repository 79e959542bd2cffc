#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import PoolCore
import PostgresLibPQ

/// Where a conninfo, or a `servers:` budget, reaches PostgreSQL: the addresses it may connect to,
/// which decide the budget a pool counts against.
///
/// Matching is by what the connection really reaches, not by the text written: every host of a
/// list (`host=a,b`, with its own port or the shared one), `hostaddr` standing for its host, names
/// resolved to their addresses (`localhost` and `127.0.0.1` are one server). A Unix socket
/// directory counts as the loopback addresses on the same port too: a local server listens on
/// both, and counting it once more is safe where counting it less is not.
struct ServerAddress: Hashable, Sendable {
    var address: String
    var port: Int

    /// Every address a conninfo may connect to; nil when it cannot be parsed.
    static func endpoints(conninfo: String, resolve: (String) -> [String] = resolve) -> Set<ServerAddress>? {
        guard case .success(let values) = PGConninfo.parse(conninfo) else { return nil }
        let hosts = list(values["host"])
        let hostaddrs = list(values["hostaddr"])
        let ports = list(values["port"]).map { Int($0) ?? 5432 }
        let count = max(hosts.count, hostaddrs.count, 1)
        var endpoints: Set<ServerAddress> = []
        for index in 0..<count {
            let port = ports.isEmpty ? 5432 : ports.count == 1 ? ports[0] : (index < ports.count ? ports[index] : 5432)
            let hostaddr = index < hostaddrs.count ? hostaddrs[index] : ""
            let host = index < hosts.count ? hosts[index] : ""
            if !hostaddr.isEmpty {
                endpoints.formUnion(addresses(of: hostaddr, port: port, resolve: resolve))
            } else {
                // libpq's default, like an empty host, is the Unix socket directory.
                endpoints.formUnion(addresses(of: host.isEmpty ? "/var/run/postgresql" : host, port: port, resolve: resolve))
            }
        }
        return endpoints
    }

    /// The addresses a budget's `host` and `port` stand for.
    static func endpoints(_ budget: ServerBudgetSettings, resolve: (String) -> [String] = resolve) -> Set<ServerAddress> {
        addresses(of: budget.host, port: budget.port, resolve: resolve)
    }

    private static func addresses(of host: String, port: Int, resolve: (String) -> [String]) -> Set<ServerAddress> {
        if host.hasPrefix("/") || host.hasPrefix("@") {
            return [ServerAddress(address: "unix:" + host, port: port), ServerAddress(address: "127.0.0.1", port: port), ServerAddress(address: "::1", port: port)]
        }
        let resolved = resolve(host)
        let names = resolved.isEmpty ? [host.lowercased()] : resolved
        return Set(names.map { ServerAddress(address: $0, port: port) })
    }

    private static func list(_ value: String?) -> [String] {
        guard let value, !value.isEmpty else { return [] }
        return value.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    }

    /// The numeric addresses of `host` (getaddrinfo: /etc/hosts, then DNS), empty when it does not
    /// resolve. May block on DNS: call it where blocking is allowed (startup, or off the
    /// cooperative pool with ``resolveOffThread(_:)``).
    static func resolve(_ host: String) -> [String] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else { return [] }
        defer { freeaddrinfo(list) }
        var found: [String] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(entry.pointee.ai_addr, entry.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if !found.contains(text) { found.append(text) }
            }
            cursor = entry.pointee.ai_next
        }
        return found
    }

    /// The addresses of a `host:port` (`[v6]:port`) as a request names a budget, resolved on a
    /// thread of its own; nil when it is not of that form.
    static func resolveBudgetOffThread(_ text: String) async -> Set<ServerAddress>? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else { return nil }
        let host = String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(returning: endpoints(ServerBudgetSettings(host: host, port: port, maxConnections: 1)))
            }
        }
    }

    /// `endpoints(conninfo:)` on a thread of its own, for callers on the cooperative pool.
    static func resolveOffThread(_ conninfo: String) async -> Set<ServerAddress>? {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: endpoints(conninfo: conninfo)) }
        }
    }
}

/// A `servers:` budget as the registry keeps it.
struct ServerBudgetEntry: Sendable {
    /// `host:port` as the config wrote it, for status and logs.
    let label: String
    let endpoints: Set<ServerAddress>
    let id: ServerID
    /// Replaced once at `start()` when the registry uses the global backend, as a pool's are.
    var metrics: ServerMetrics
}

extension [ServerBudgetEntry] {
    /// The budget a pool reaching `endpoints` counts against: the first that shares an address.
    func budget(for endpoints: Set<ServerAddress>?) -> ServerBudgetEntry? {
        guard let endpoints else { return nil }
        return first { !$0.endpoints.isDisjoint(with: endpoints) }
    }
}
