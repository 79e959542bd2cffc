import Logging
import Metrics
import NIOCore
import Synchronization

/// The limits on the service's HTTP clients (`listen.max_connections`, `listen.request_timeout`):
/// the count of open client connections, shared by every connection's
/// ``ClientConnectionHandler``, and what is reported of them. Without these, idle sockets and
/// half-sent headers stayed open for minutes, and ~20,000 of them (the file limit) stopped
/// `/healthz` and borrows for a minute with nothing logged.
final class ClientConnections: Sendable {
    let limit: Int
    let requestTimeout: Duration
    private let logger: Logger
    private let open = Atomic<Int>(0)
    private let openGauge = Gauge(label: "poolwarden_http_connections")
    private let refusedCounter = Counter(label: "poolwarden_http_connections_refused_total")
    private let timedOutCounter = Counter(label: "poolwarden_http_request_timeouts_total")
    /// When the last "refused" line was logged, and how many refusals came since.
    private let refusals = Mutex<(loggedAt: ContinuousClock.Instant?, unlogged: Int)>((nil, 0))
    static let refusalLogInterval: Duration = .seconds(10)

    init(limit: Int, requestTimeout: Duration, logger: Logger) {
        self.limit = limit
        self.requestTimeout = requestTimeout
        self.logger = logger
    }

    /// The handlers each new client connection gets, after HTTP decoding.
    var channelHandlers: [any RemovableChannelHandler] {
        [ClientHangUpHandler(), ClientConnectionHandler(connections: self)]
    }

    /// Counts a new connection; false when it is one over the limit (it is then not counted).
    func admit() -> Bool {
        let count = open.wrappingAdd(1, ordering: .relaxed).newValue
        guard count <= limit else {
            open.wrappingSubtract(1, ordering: .relaxed)
            refused()
            return false
        }
        openGauge.record(count)
        return true
    }

    /// A counted connection closed.
    func closed() {
        openGauge.record(open.wrappingSubtract(1, ordering: .relaxed).newValue)
    }

    /// A connection closed because its client did not send a whole request in time.
    func timedOut() {
        timedOutCounter.increment()
    }

    /// A flood would log a line per connection: one line per interval, with the count since.
    private func refused() {
        refusedCounter.increment()
        let now = ContinuousClock.now
        let due = refusals.withLock { state -> Int? in
            state.unlogged += 1
            if let last = state.loggedAt, now - last < Self.refusalLogInterval { return nil }
            defer { state = (now, 0) }
            return state.unlogged
        }
        if let due {
            logger.warning(
                "client connections refused: listen.max_connections reached",
                metadata: ["refused": "\(due)", "max_connections": "\(limit)"]
            )
        }
    }
}
