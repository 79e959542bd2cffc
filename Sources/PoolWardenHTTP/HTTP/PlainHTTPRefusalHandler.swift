import Foundation
import NIOCore

/// First in a TLS connection's pipeline: a client whose first byte is not a TLS handshake record
/// but a letter (an HTTP method: `curl http://` to an `https://` port) gets a plain 400
/// `tls_required` problem saying so, where the TLS handler would only drop the connection and
/// leave the user guessing. Anything else is left to TLS; the handler removes itself after the
/// first byte.
final class PlainHTTPRefusalHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var refused = false

    /// A TLS record of type handshake.
    private static let handshakeRecord: UInt8 = 0x16

    static let answer: [UInt8] = {
        let body = #"{"code":"tls_required","detail":"this port speaks HTTPS only; use https:// (and the CA of its certificate)","status":400,"title":"TLS required","type":"urn:poolwarden:problem:tls_required"}"#
        let head = "HTTP/1.1 400 Bad Request\r\nContent-Type: application/problem+json\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Connection: close\r\n\r\n"
        return Array((head + body).utf8)
    }()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // The rest of a refused request is read and dropped until the client closes.
        if refused { return }
        let buffer = unwrapInboundIn(data)
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return }
        if first != Self.handshakeRecord, (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(first) {
            refused = true
            let channel = context.channel
            context.writeAndFlush(NIOAny(channel.allocator.buffer(bytes: Self.answer)), promise: nil)
            // Half-close, then close after a grace: closing at once with the request still unread
            // would send a reset, which can destroy the answer before the client reads it. From
            // this handler's context, which is before TLS: through the channel, the TLS handler
            // would hold the half-close until a handshake that never comes.
            context.close(mode: .output, promise: nil)
            channel.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
            return
        }
        context.fireChannelRead(data)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
