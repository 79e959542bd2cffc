import NIOCore
import PoolWardenRuntime

/// Sits in every HTTP connection's pipeline and reports when the client closes its side
/// (`inputClosed`: the service allows half-closure) or the connection goes away, without reading
/// the request stream the connection's next request comes from.
final class ClientHangUpHandler: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny

    let hangUp = ClientHangUp()

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent { hangUp.fire() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        hangUp.fire()
        context.fireChannelInactive()
    }

    /// The watcher of `channel`'s client; nil on a channel without this handler (a server set up
    /// another way), where requests then go unwatched rather than fail.
    static func hangUp(of channel: any Channel) async -> ClientHangUp? {
        if channel.eventLoop.inEventLoop {
            return try? channel.pipeline.syncOperations.handler(type: ClientHangUpHandler.self).hangUp
        }
        return try? await channel.pipeline.handler(type: ClientHangUpHandler.self).get().hangUp
    }
}
