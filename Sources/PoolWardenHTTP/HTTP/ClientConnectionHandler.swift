import NIOCore
import NIOHTTPTypes

/// Sits in every client connection's pipeline, after HTTP decoding. It closes the connection at
/// once when it is one over `listen.max_connections`, and closes it when its client has not sent
/// a whole request within `listen.request_timeout` of connecting or of the previous answer: an
/// idle socket, a half-sent header, a body that trickles, an idle keep-alive connection. A request
/// read in full is never cut by it, so a borrow that waits for a connection is not "idle".
final class ClientConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let connections: ClientConnections
    private var counted = false
    /// Requests read in full and not yet answered.
    private var answering = 0
    private var deadline: Scheduled<Void>?

    init(connections: ClientConnections) {
        self.connections = connections
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) {
            answering += 1
            deadline?.cancel()
            deadline = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            answering = max(0, answering - 1)
            if answering == 0 { arm(context) }
        }
        context.write(data, promise: promise)
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !counted else { return }
        guard connections.admit() else {
            context.close(promise: nil)
            return
        }
        counted = true
        arm(context)
    }

    private func stop() {
        deadline?.cancel()
        deadline = nil
        if counted {
            counted = false
            connections.closed()
        }
    }

    private func arm(_ context: ChannelHandlerContext) {
        deadline?.cancel()
        let connections = self.connections
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: TimeAmount(connections.requestTimeout)) {
            connections.timedOut()
            channel.close(promise: nil)
        }
    }
}
