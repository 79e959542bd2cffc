import CoreMetrics
import Logging
import NIOCore
import NIOTLS

/// Behind the TLS handler until the handshake completes: a handshake that fails (no client
/// certificate, one of another CA, an old protocol version, a client that does not trust the
/// server's certificate) is counted and logged at debug, where it would otherwise leave no trace
/// but a closed connection.
final class TLSHandshakeWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    static let failures = Counter(label: "poolwarden_tls_handshake_failures_total")

    private let logger: Logger
    private var failed = false

    init(logger: Logger) {
        self.logger = logger
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        context.fireUserInboundEventTriggered(event)
        if case TLSUserEvent.handshakeCompleted = event {
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !failed {
            failed = true
            Self.failures.increment()
            logger.debug("TLS handshake failed", metadata: ["peer": "\(context.remoteAddress.map { "\($0)" } ?? "-")", "error": "\(error)"])
        }
        context.fireErrorCaught(error)
    }
}
