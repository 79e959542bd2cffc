import PoolWardenRuntime
import Synchronization

/// The hand-over between a streamed statement (the producer, which drives the connection) and
/// the HTTP body that writes its chunks (the reader). It is pull-based: the producer hands a
/// chunk over only when the reader asks for one and reads the socket on only after that, so a
/// reader that writes slowly slows the statement down instead of chunks piling up here.
///
/// The producer always ends with `finish` (or `failBeforeStart`), which is what lets a reader
/// waiting for a chunk go; the reader ends with `abandon` when it goes away, which is what lets a
/// producer waiting for demand go.
final class QueryStreamChannel: Sendable {
    /// What a waiting handler learns: the stream began (its head can be answered), or the
    /// statement failed before its first row.
    typealias Start = Result<Void, WardenError>

    private struct State {
        var start: Start?
        var starter: CheckedContinuation<Start, Never>?
        /// The reader waiting for its next chunk: that is the demand.
        var reader: CheckedContinuation<ArraySlice<UInt8>?, any Error>?
        /// The producer waiting for demand.
        var producer: CheckedContinuation<Bool, Never>?
        var abandoned = false
        /// The last chunk, kept until asked for, and how the stream ended.
        var tail: [UInt8] = []
        var ended = false
        var cutOff = false
    }

    /// Thrown by the body when the stream ended with a failure it cannot write down (CSV): the
    /// HTTP server then closes the connection without the chunked encoding's last chunk.
    struct CutOff: Error {}

    private let state = Mutex(State())

    // MARK: The handler

    /// Waits for the stream's start (the columns) or its failure before the first row.
    func started() async -> Start {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Start? in
                if let start = state.start { return start }
                state.starter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    // MARK: The producer

    func start() { announce(.success(())) }

    func failBeforeStart(_ error: WardenError) {
        announce(.failure(error))
        state.withLock { $0.ended = true }
    }

    private func announce(_ start: Start) {
        let starter = state.withLock { state -> CheckedContinuation<Start, Never>? in
            guard state.start == nil else { return nil }
            state.start = start
            defer { state.starter = nil }
            return state.starter
        }
        starter?.resume(returning: start)
    }

    /// Waits until the reader asks for a chunk: true then, false when the reader went away or
    /// `deadline` (the statement's) passed first.
    func demand(by deadline: ContinuousClock.Instant?) async -> Bool {
        let timer = deadline.map { deadline in
            Task { [self] in
                try? await Task.sleep(until: deadline, clock: .continuous)
                if !Task.isCancelled { abandon() }
            }
        }
        defer { timer?.cancel() }
        return await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Bool? in
                if state.abandoned { return false }
                if state.reader != nil { return true }
                state.producer = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Hands `chunk` to the reader whose demand `demand` answered.
    func deliver(_ chunk: [UInt8]) {
        let reader = state.withLock { state -> CheckedContinuation<ArraySlice<UInt8>?, any Error>? in
            defer { state.reader = nil }
            return state.reader
        }
        reader?.resume(returning: ArraySlice(chunk))
    }

    /// Ends the stream with `last`; `cutOff`: with a failure the reader must show by cutting the
    /// response off.
    func finish(_ last: [UInt8], cutOff: Bool) {
        let reader = state.withLock { state -> CheckedContinuation<ArraySlice<UInt8>?, any Error>? in
            state.ended = true
            state.cutOff = cutOff
            state.tail = last
            defer { state.reader = nil }
            return state.reader
        }
        if let reader { resume(reader) }
    }

    // MARK: The reader

    /// The next chunk; nil at the end. Throws `CutOff` for a stream that failed midway where the
    /// format has no way to say so.
    func next() async throws -> ArraySlice<UInt8>? {
        try await withCheckedThrowingContinuation { continuation in
            let (ready, producer) = state.withLock { state -> (Bool, CheckedContinuation<Bool, Never>?) in
                if state.ended { return (true, nil) }
                state.reader = continuation
                defer { state.producer = nil }
                return (false, state.producer)
            }
            if ready { resume(continuation) }
            producer?.resume(returning: true)
        }
    }

    /// The reader is gone (the client hung up, or the body was dropped unread) or too slow: a
    /// producer waiting for demand stops.
    func abandon() {
        let producer = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            state.abandoned = true
            defer { state.producer = nil }
            return state.producer
        }
        producer?.resume(returning: false)
    }

    /// Answers an ended stream's reader: its last chunk first, then the end (or the cut-off).
    private func resume(_ reader: CheckedContinuation<ArraySlice<UInt8>?, any Error>) {
        let outcome = state.withLock { state -> Result<ArraySlice<UInt8>?, any Error> in
            if !state.tail.isEmpty {
                defer { state.tail = [] }
                return .success(ArraySlice(state.tail))
            }
            return state.cutOff ? .failure(CutOff()) : .success(nil)
        }
        reader.resume(with: outcome)
    }
}
