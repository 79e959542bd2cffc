import NIOCore
import NIOHTTPTypes

/// Sits in every client connection's pipeline, after HTTP decoding. It closes the connection at
/// once when it is one over `listen.max_connections`, and closes it when its client has not sent
/// a whole request within `listen.request_timeout` of connecting or of the previous answer: an
/// idle socket, a half-sent header, a body that trickles, an idle keep-alive connection. A request
/// read in full is never cut by it, so a borrow that waits for a connection is not "idle".
///
/// The deadline is kept lazily: an answer only notes when the connection became idle, and the one
/// timer of the connection, when it fires, closes it or waits for the rest of the time. Scheduling
/// and cancelling a timer per request cost a single shot ~5 µs (NIO removes a cancelled task from
/// its queue by a linear search), more than the deadline is worth on a keep-alive connection that
/// sends its next request at once.
final class ClientConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let connections: ClientConnections
    private var counted = false
    /// Requests read in full and not yet answered.
    private var answering = 0
    /// Since when the client owes a whole request (connected, or answered with nothing pending);
    /// nil while a request read in full is being answered.
    private var idleSince: NIODeadline?
    private var timer: Scheduled<Void>?

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
            idleSince = nil
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
        timer?.cancel()
        timer = nil
        idleSince = nil
        if counted {
            counted = false
            connections.closed()
        }
    }

    private func arm(_ context: ChannelHandlerContext) {
        let now = NIODeadline.now()
        idleSince = now
        if timer == nil { schedule(context, at: now + TimeAmount(connections.requestTimeout)) }
    }

    private func schedule(_ context: ChannelHandlerContext, at due: NIODeadline) {
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let loopContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: due) {
            handler.value.fire(loopContext.value)
        }
    }

    /// The timer's end: a connection idle for the whole timeout is closed; one that was answered
    /// meanwhile waits for the rest of its new timeout; one with a request in hand is left alone
    /// (its answer arms the timer again).
    private func fire(_ context: ChannelHandlerContext) {
        timer = nil
        guard counted, let idleSince else { return }
        let due = idleSince + TimeAmount(connections.requestTimeout)
        if due > .now() {
            schedule(context, at: due)
            return
        }
        connections.timedOut()
        context.channel.close(promise: nil)
    }
}
