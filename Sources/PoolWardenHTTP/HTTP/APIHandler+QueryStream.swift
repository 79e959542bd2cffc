import OpenAPIRuntime
import PoolWardenRuntime
import PostgresLibPQ

extension APIHandler {
    /// Starts a streamed statement (`run`, handed the event sink) and answers its body once the stream has begun (the first
    /// row or the end has arrived), so that a failure before any row is thrown here and answered
    /// as the usual problem with its status. The statement runs in a task of its own, paced by
    /// the body's reader through the channel; the request's hang-up watch abandons it at once.
    func streamQuery(
        format: QueryStreamFormat,
        _ run: @escaping @Sendable (
            _ deliver: @escaping @Sendable (PGStreamEvent, ContinuousClock.Instant?) async -> Bool
        ) async throws(WardenError) -> PGQueryResult
    ) async throws -> HTTPBody {
        let channel = QueryStreamChannel()
        let writer = QueryStreamWriter(format: format, channel: channel)
        let hangUp = ClientHangUp.current
        let watch = hangUp?.onHangUp { channel.abandon() }
        Task {
            defer { if let watch { hangUp?.remove(watch) } }
            let outcome: Result<PGQueryResult, WardenError>
            do throws(WardenError) {
                outcome = .success(try await run { event, deadline in await writer.take(event, deadline: deadline) })
            } catch {
                outcome = .failure(error)
            }
            writer.end(outcome)
        }
        let start = await withTaskCancellationHandler {
            await channel.started()
        } onCancel: {
            channel.abandon()
        }
        try start.get()
        return HTTPBody(QueryStreamBody(channel), length: .unknown, iterationBehavior: .single)
    }
}

extension QueryStreamFormat {
    /// The stream form `Accept` prefers, by quality and then order; nil for the JSON answer
    /// (asked for, or nothing known asked for: the generated code then answers 406 when JSON
    /// is excluded, as for every other route).
    init?<T: AcceptableProtocol>(accepting accept: [AcceptHeaderContentType<T>]) {
        let ranked = accept.enumerated().sorted { ($0.element.quality.doubleValue, -$0.offset) > ($1.element.quality.doubleValue, -$1.offset) }
        for entry in ranked.map(\.element) where entry.quality.doubleValue > 0 {
            switch entry.contentType.rawValue.lowercased() {
            case "application/json": return nil
            case "application/x-ndjson":
                self = .ndjson
                return
            case "text/csv":
                self = .csv
                return
            default: continue
            }
        }
        return nil
    }
}
