import OpenAPIRuntime
import PoolWardenRuntime
import PostgresLibPQ

extension APIHandler {
    func runTransaction(_ input: Operations.RunTransaction.Input) async throws -> Operations.RunTransaction.Output {
        let caller = try RequestCaller.require(pool: input.path.pool)
        guard case .json(let body) = input.body else { throw WardenError.invalidRequest("a JSON body with statements is required") }
        let request = TransactionRequest(
            statements: try RequestValidation.statements(body.statements),
            mode: PGTransactionMode(isolation: body.isolation.map(Self.isolation), readOnly: body.readOnly, deferrable: body.deferrable),
            timeout: try body.timeoutMs.map { (ms: Int) throws(WardenError) -> Duration in try RequestValidation.duration(ms, field: "timeout_ms") },
            wait: try body.waitMs.map(RequestValidation.waitDuration),
            retryOnSerializationFailure: body.retryOnSerializationFailure ?? false
        )
        let started = ContinuousClock.now
        let outcome = try await registry.transaction(pool: input.path.pool, caller: caller, request, hangUp: ClientHangUp.current)
        let result = Components.Schemas.TransactionResult(
            results: try outcome.results.map { try .init($0, elapsed: nil) },
            attempts: outcome.attempts,
            elapsedMs: Int(started.duration(to: .now).milliseconds)
        )
        return .ok(.init(body: .json(result)))
    }

    func runBatch(_ input: Operations.RunBatch.Input) async throws -> Operations.RunBatch.Output {
        let caller = try RequestCaller.require()
        guard case .json(let body) = input.body else { throw WardenError.invalidRequest("a JSON body with statements is required") }
        let statements = try RequestValidation.statements(body.statements)
        let timeout = try body.timeoutMs.map { (ms: Int) throws(WardenError) -> Duration in try RequestValidation.duration(ms, field: "timeout_ms") }
        let started = ContinuousClock.now
        let results = try await registry.batch(token: input.path.token, caller: caller, statements: statements, timeout: timeout)
        let result = Components.Schemas.BatchResult(
            results: try results.map { try .init($0, elapsed: nil) },
            elapsedMs: Int(started.duration(to: .now).milliseconds)
        )
        return .ok(.init(body: .json(result)))
    }

    private static func isolation(_ level: Components.Schemas.TransactionRequest.IsolationPayload) -> PGIsolationLevel {
        switch level {
        case .readCommitted: .readCommitted
        case .repeatableRead: .repeatableRead
        case .serializable: .serializable
        }
    }
}
