import OpenAPIRuntime

/// A streamed answer's body as `HTTPBody` takes it: each `next` is the reader's demand on the
/// channel. Whether the body is iterated to its end, dropped midway (the client hung up and the
/// write failed) or never iterated at all, the last reference going away abandons the channel, so
/// the statement never waits for a reader that is gone.
struct QueryStreamBody: AsyncSequence, Sendable {
    typealias Element = HTTPBody.ByteChunk

    final class Reader: Sendable {
        let channel: QueryStreamChannel
        init(_ channel: QueryStreamChannel) { self.channel = channel }
        deinit { channel.abandon() }
    }

    struct Iterator: AsyncIteratorProtocol {
        let reader: Reader
        mutating func next() async throws -> HTTPBody.ByteChunk? {
            try await reader.channel.next()
        }
    }

    let reader: Reader

    init(_ channel: QueryStreamChannel) {
        reader = Reader(channel)
    }

    func makeAsyncIterator() -> Iterator { Iterator(reader: reader) }
}
