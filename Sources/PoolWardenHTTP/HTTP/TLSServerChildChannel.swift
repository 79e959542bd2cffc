import HummingbirdCore
import Logging
import NIOCore
import NIOSSL

/// Hummingbird's HTTP/1 channel behind TLS, with the context taken from ``ServerTLS`` for each
/// connection (HummingbirdTLS fixes it at start, so a renewed certificate would need a restart),
/// and a plain HTTP request answered with a problem instead of a dropped connection.
struct TLSServerChildChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value

    let base: Base
    let tls: ServerTLS

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let operations = channel.pipeline.syncOperations
            try operations.addHandler(PlainHTTPRefusalHandler())
            try operations.addHandler(NIOSSLServerHandler(context: tls.context))
            try operations.addHandler(TLSHandshakeWatcher(logger: logger))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension TLSServerChildChannel: HTTPChannelHandler where Base: HTTPChannelHandler {
    var responder: HTTPChannelHandler.Responder { base.responder }
}

extension HTTPServerBuilder {
    /// HTTP/1 (as `.http1(configuration:)` builds it) over TLS from ``ServerTLS``.
    static func http1(configuration: HTTP1Channel.Configuration, tls: ServerTLS) -> HTTPServerBuilder {
        .init { responder in
            TLSServerChildChannel(base: HTTP1Channel(responder: responder, configuration: configuration), tls: tls)
        }
    }
}
