import Foundation
import OpenAPIRuntime
import PoolWardenRuntime
import PostgresLibPQ

/// The generated `APIProtocol`, implemented thinly over `PoolRegistry`: read the input, check the
/// caller's rights, call the registry, shape the answer. Failures are thrown as `WardenError`
/// and become problem+json in `ProblemMiddleware`.
struct APIHandler: APIProtocol {
    let registry: PoolRegistry
    let metrics: PrometheusExporter
    let version: String
    /// Holds the configuration in force (what only the file sets: listen, callers, servers) and
    /// reloads it.
    let reloader: ConfigReloader

    func healthz(_ input: Operations.Healthz.Input) async throws -> Operations.Healthz.Output {
        .ok(.init(body: .json(.init(status: .ok, version: version))))
    }

    func readyz(_ input: Operations.Readyz.Input) async throws -> Operations.Readyz.Output {
        let pools = registry.readiness()
        let reasons = registry.clusterProblems() + pools.compactMap { pool in pool.ready ? nil : "pool \(pool.pool): \(pool.reason ?? "not ready")" }
        let statuses = Dictionary(registry.statuses().map { ($0.name, $0.state) }, uniquingKeysWith: { first, _ in first })
        let body = Components.Schemas.Readiness(
            status: reasons.isEmpty ? .ready : .notReady,
            reasons: reasons,
            pools: pools.map { pool in
                .init(
                    name: pool.pool,
                    ready: pool.ready,
                    state: statuses[pool.pool].flatMap(Components.Schemas.PoolState.init(rawValue:)) ?? .running,
                    reason: pool.reason
                )
            }
        )
        return reasons.isEmpty ? .ok(.init(body: .json(body))) : .serviceUnavailable(.init(body: .json(body)))
    }

    func metrics(_ input: Operations.Metrics.Input) async throws -> Operations.Metrics.Output {
        registry.refreshMetrics()
        return .ok(.init(body: .textPlainVersion_0_0_4(HTTPBody(metrics.render()))))
    }

    func getOpenAPISpec(_ input: Operations.GetOpenAPISpec.Input) async throws -> Operations.GetOpenAPISpec.Output {
        .ok(.init(body: .yaml(HTTPBody(PackageResources.openapi_yaml))))
    }

    // MARK: Pools

    func listPools(_ input: Operations.ListPools.Input) async throws -> Operations.ListPools.Output {
        let caller = try RequestCaller.require()
        return .ok(.init(body: .json(.init(registry, caller: caller))))
    }

    func listServers(_ input: Operations.ListServers.Input) async throws -> Operations.ListServers.Output {
        let caller = try RequestCaller.require()
        return .ok(.init(body: .json(.init(servers: registry.servers(visibleTo: caller).map(Components.Schemas.ServerBudget.init)))))
    }

    func getConfig(_ input: Operations.GetConfig.Input) async throws -> Operations.GetConfig.Output {
        _ = try RequestCaller.requireAdmin()
        return .ok(.init(body: .yaml(HTTPBody(ConfigRenderer.yaml(reloader.configuration, pools: registry.runningSettings())))))
    }

    func reloadConfig(_ input: Operations.ReloadConfig.Input) async throws -> Operations.ReloadConfig.Output {
        _ = try RequestCaller.requireAdmin()
        return .ok(.init(body: .json(.init(try await reloader.reload(trigger: "POST /v1/reload")))))
    }

    func createPool(_ input: Operations.CreatePool.Input) async throws -> Operations.CreatePool.Output {
        _ = try RequestCaller.requireAdmin()
        guard case .json(let request) = input.body else { throw WardenError.invalidRequest("a JSON body is required") }
        let settings = try PoolRequestMapping.settings(from: request)
        return .created(.init(body: .json(.init(try await registry.createPool(settings)))))
    }

    func getPool(_ input: Operations.GetPool.Input) async throws -> Operations.GetPool.Output {
        _ = try RequestCaller.require(pool: input.path.pool)
        return .ok(.init(body: .json(.init(try registry.status(pool: input.path.pool)))))
    }

    func updatePool(_ input: Operations.UpdatePool.Input) async throws -> Operations.UpdatePool.Output {
        _ = try RequestCaller.requireAdmin()
        guard case .json(let request) = input.body else { throw WardenError.invalidRequest("a JSON body is required") }
        let patch = try PoolRequestMapping.patch(from: request)
        return .ok(.init(body: .json(.init(try await registry.updatePool(input.path.pool, patch)))))
    }

    func deletePool(_ input: Operations.DeletePool.Input) async throws -> Operations.DeletePool.Output {
        _ = try RequestCaller.requireAdmin()
        let closing = try await registry.deletePool(input.path.pool)
        guard closing == 0 else { return .accepted(.init(body: .json(.init(name: input.path.pool, closing: closing)))) }
        return .noContent(.init())
    }

    func pausePool(_ input: Operations.PausePool.Input) async throws -> Operations.PausePool.Output {
        _ = try RequestCaller.requireAdmin()
        return .ok(.init(body: .json(.init(try registry.pause(input.path.pool)))))
    }

    func resumePool(_ input: Operations.ResumePool.Input) async throws -> Operations.ResumePool.Output {
        _ = try RequestCaller.requireAdmin()
        return .ok(.init(body: .json(.init(try registry.resume(input.path.pool)))))
    }

    func recyclePool(_ input: Operations.RecyclePool.Input) async throws -> Operations.RecyclePool.Output {
        _ = try RequestCaller.requireAdmin()
        var mode = RecycleMode.graceful
        var olderThan: Duration?
        if case .json(let request) = input.body {
            if request.mode == .immediate { mode = .immediate }
            olderThan = try request.olderThanMs.map { try RequestValidation.duration($0, field: "older_than_ms", allowZero: true) }
        }
        let counts = try registry.recycle(input.path.pool, mode: mode, olderThan: olderThan)
        return .ok(.init(body: .json(.init(closed: counts.closed, deferred: counts.deferred, revoked: counts.revoked))))
    }

    func listLeases(_ input: Operations.ListLeases.Input) async throws -> Operations.ListLeases.Output {
        let caller = try RequestCaller.require(pool: input.path.pool)
        let leases = try registry.leases(pool: input.path.pool, caller: caller)
        return .ok(.init(body: .json(.init(leases: leases.map(Components.Schemas.LeaseInfo.init)))))
    }
}
