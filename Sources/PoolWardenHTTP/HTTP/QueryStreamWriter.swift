import PoolWardenRuntime
import PostgresLibPQ

/// The producer's side of a streamed answer: formats the events the driver hands over into
/// chunks and gives each to the channel when the reader asks for it.
///
/// Used by one task at a time (the statement's, one event after another), hence unchecked.
final class QueryStreamWriter: @unchecked Sendable {
    /// Chunks this large keep the per-chunk hand-over cheap against the rows' own cost while the
    /// memory held stays small.
    static let chunkSize = 32 << 10

    let format: QueryStreamFormat
    let channel: QueryStreamChannel
    private var buffer: [UInt8] = []
    private var started = false
    /// The writer stopped the statement (the reader went away or outlasted the deadline).
    private var stopped = false

    init(format: QueryStreamFormat, channel: QueryStreamChannel) {
        self.format = format
        self.channel = channel
        buffer.reserveCapacity(Self.chunkSize + 4096)
    }

    /// Takes one event; false stops the statement (the reader is gone or too slow).
    func take(_ event: PGStreamEvent, deadline: ContinuousClock.Instant?) async -> Bool {
        switch event {
        case .columns(let columns):
            format.header(columns, into: &buffer)
            started = true
            channel.start()
            return true
        case .row(let values):
            format.row(values, into: &buffer)
            guard buffer.count >= Self.chunkSize else { return true }
            guard await channel.demand(by: deadline) else {
                stopped = true
                return false
            }
            channel.deliver(buffer)
            buffer.removeAll(keepingCapacity: true)
            return true
        }
    }

    /// Ends the stream with the statement's outcome.
    func end(_ outcome: Result<PGQueryResult, WardenError>) {
        switch outcome {
        case .success(let summary):
            if !started {
                // A result without rows arrives whole: its columns (if any) come with its end.
                format.header(summary.columns, into: &buffer)
                started = true
                channel.start()
            }
            // A stream the writer stopped is incomplete: a trailer would claim otherwise, and a
            // reader that comes back after the deadline must see the cut.
            if !stopped { format.trailer(summary, into: &buffer) }
            channel.finish(buffer, cutOff: stopped)
        case .failure(let error):
            guard started else {
                channel.failBeforeStart(error)
                return
            }
            let written = format.failure(error, into: &buffer)
            channel.finish(buffer, cutOff: !written)
        }
    }
}
