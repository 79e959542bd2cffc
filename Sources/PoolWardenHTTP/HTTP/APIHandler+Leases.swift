import Foundation
import OpenAPIRuntime
import PoolWardenRuntime
import PostgresLibPQ

extension APIHandler {
    func borrowLease(_ input: Operations.BorrowLease.Input) async throws -> Operations.BorrowLease.Output {
        let caller = try RequestCaller.require(pool: input.path.pool)
        var ttl: Duration?
        var wait: Duration?
        var key: String?
        if case .json(let request) = input.body {
            ttl = try request.ttlMs.map { try RequestValidation.duration($0, field: "ttl_ms") }
            wait = try request.waitMs.map { try RequestValidation.duration($0, field: "wait_ms", allowZero: true) }
            key = try request.key.map { try RequestValidation.text($0, field: "key", maxLength: 128) }
        }
        let outcome = try await registry.borrow(
            pool: input.path.pool, caller: caller, ttl: ttl, wait: wait, key: key, tagging: true, hangUp: ClientHangUp.current
        )
        let lease = Components.Schemas.Lease(outcome.lease)
        return outcome.created ? .created(.init(body: .json(lease))) : .ok(.init(body: .json(lease)))
    }

    func getLease(_ input: Operations.GetLease.Input) async throws -> Operations.GetLease.Output {
        let caller = try RequestCaller.require()
        let lease = try registry.lease(token: input.path.token, caller: caller)
        return .ok(.init(body: .json(.init(lease))))
    }

    func revokeLease(_ input: Operations.RevokeLease.Input) async throws -> Operations.RevokeLease.Output {
        let caller = try RequestCaller.requireAdmin()
        let lease = try await registry.revoke(pool: input.path.pool, prefix: input.path.prefix, caller: caller)
        return .ok(.init(body: .json(.init(lease))))
    }

    func releaseLease(_ input: Operations.ReleaseLease.Input) async throws -> Operations.ReleaseLease.Output {
        let caller = try RequestCaller.require()
        try await registry.release(token: input.path.token, caller: caller)
        return .noContent(.init())
    }

    func renewLease(_ input: Operations.RenewLease.Input) async throws -> Operations.RenewLease.Output {
        let caller = try RequestCaller.require()
        var ttl: Duration?
        if case .json(let request) = input.body {
            ttl = try request.ttlMs.map { try RequestValidation.duration($0, field: "ttl_ms") }
        }
        let lease = try registry.renew(token: input.path.token, caller: caller, ttl: ttl)
        return .ok(.init(body: .json(.init(lease))))
    }

    func queryLease(_ input: Operations.QueryLease.Input) async throws -> Operations.QueryLease.Output {
        let caller = try RequestCaller.require()
        guard case .json(let request) = input.body else { throw WardenError.invalidRequest("a JSON body with sql is required") }
        let statement = try RequestValidation.statement(request)
        guard statement.wait == nil else {
            throw WardenError.invalidRequest("wait_ms is for single shots: a lease already holds its connection", field: "wait_ms")
        }
        if let format = QueryStreamFormat(accepting: input.headers.accept) {
            let (registry, token) = (registry, input.path.token)
            let body = try await streamQuery(format: format) { deliver throws(WardenError) in
                try await registry.stream(
                    token: token, caller: caller, sql: statement.sql, parameters: statement.parameters, timeout: statement.timeout, deliver: deliver
                )
            }
            switch format {
            case .ndjson: return .ok(.init(body: .applicationXNdjson(body)))
            case .csv: return .ok(.init(body: .csv(body)))
            }
        }
        let started = ContinuousClock.now
        let result = try await registry.query(
            token: input.path.token, caller: caller, sql: statement.sql, parameters: statement.parameters, timeout: statement.timeout
        )
        return .ok(.init(body: .json(try .init(result, elapsed: started.duration(to: .now)))))
    }

    func queryPool(_ input: Operations.QueryPool.Input) async throws -> Operations.QueryPool.Output {
        let caller = try RequestCaller.require(pool: input.path.pool)
        guard case .json(let request) = input.body else { throw WardenError.invalidRequest("a JSON body with sql is required") }
        let statement = try RequestValidation.statement(request)
        if let format = QueryStreamFormat(accepting: input.headers.accept) {
            let (registry, pool, hangUp) = (registry, input.path.pool, ClientHangUp.current)
            let body = try await streamQuery(format: format) { deliver throws(WardenError) in
                try await registry.streamOnce(
                    pool: pool, caller: caller, sql: statement.sql, parameters: statement.parameters,
                    timeout: statement.timeout, wait: statement.wait, hangUp: hangUp, deliver: deliver
                )
            }
            switch format {
            case .ndjson: return .ok(.init(body: .applicationXNdjson(body)))
            case .csv: return .ok(.init(body: .csv(body)))
            }
        }
        let started = ContinuousClock.now
        let result = try await registry.queryOnce(
            pool: input.path.pool, caller: caller, sql: statement.sql, parameters: statement.parameters, timeout: statement.timeout,
            wait: statement.wait, hangUp: ClientHangUp.current
        )
        return .ok(.init(body: .json(try .init(result, elapsed: started.duration(to: .now)))))
    }
}
