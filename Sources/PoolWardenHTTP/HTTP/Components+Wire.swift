import Foundation
import OpenAPIRuntime
import PoolWardenRuntime
import PostgresLibPQ

// The runtime's views in the wire shapes of openapi.yaml: snake_case names, durations as integer
// milliseconds, never a password or a full token (except the borrower's own, once).

extension Components.Schemas.PoolStatus {
    init(_ view: PoolStatusView) {
        self.init(
            name: view.name,
            state: Components.Schemas.PoolState(rawValue: view.state) ?? .running,
            limits: .init(min: view.min, max: view.max, maxPerCaller: view.maxPerCaller),
            counts: .init(
                open: view.counts.open, idle: view.counts.idle, leased: view.counts.leased,
                opening: view.counts.opening, waiting: view.counts.waiting
            ),
            totals: .init(
                borrows: view.totals.borrows, timeouts: view.totals.timeouts,
                connectAttempts: view.totals.connectAttempts, connectFailures: view.totals.connectFailures,
                expired: view.totals.expired, revoked: view.totals.revoked,
                recycled: view.totals.recycled, closed: view.totals.closed
            ),
            lastError: view.lastError,
            connections: view.connections.map { connection in
                .init(
                    id: connection.id,
                    backendPid: connection.backendPID.map(Int.init),
                    state: .init(connectionState: connection.state),
                    ageMs: Int(connection.age.milliseconds),
                    idleMs: Int(connection.idle.milliseconds),
                    caller: connection.caller,
                    tokenPrefix: connection.tokenPrefix,
                    note: connection.note
                )
            },
            settings: .init(view.settings, passwordSet: view.passwordSet, server: view.server),
            source: view.source == "api" ? .api : .config,
            drift: view.drift
        )
    }
}

extension Components.Schemas.PoolList {
    /// `GET /v1/pools` as `caller` may see it. The generated handler and `PoolListMiddleware`'s
    /// fast path both answer with this, so the two cannot drift apart.
    init(_ registry: PoolRegistry, caller: CallerIdentity) {
        self.init(
            pools: registry.statuses().filter { caller.mayUse(pool: $0.name) }.map(Components.Schemas.PoolStatus.init),
            servers: registry.servers(visibleTo: caller).map(Components.Schemas.ServerBudget.init)
        )
    }
}

extension Components.Schemas.ServerBudget {
    init(_ view: ServerBudgetView) {
        self.init(server: view.server, open: view.open, max: view.max, pools: view.pools)
    }
}

extension Components.Schemas.PoolSettings {
    /// `settings` as a status view holds them: the conninfo already redacted.
    init(_ settings: PoolSettings, passwordSet: Bool, server: String?) {
        self.init(
            conninfo: settings.conninfo,
            passwordSet: passwordSet,
            server: server,
            maxWaiting: settings.waitingLimit,
            leaseTtlMs: Int(settings.leaseTTL.milliseconds),
            borrowTimeoutMs: Int(settings.borrowTimeout.milliseconds),
            maxLifetimeMs: Int(settings.maxLifetime?.milliseconds ?? 0),
            idleTimeoutMs: Int(settings.idleTimeout?.milliseconds ?? 0),
            healthCheckAfterMs: Int(settings.healthCheckAfter?.milliseconds ?? 0),
            statementTimeoutMs: Int(settings.statementTimeout?.milliseconds ?? 0),
            connectRetry: .init(
                attempts: settings.connectRetry.attempts,
                baseDelayMs: Int(settings.connectRetry.baseDelay.milliseconds),
                maxDelayMs: Int(settings.connectRetry.maxDelay.milliseconds)
            ),
            applicationNameTagging: settings.applicationNameTagging,
            reset: settings.reset == .discardAll ? .discardAll : Components.Schemas.ResetMode.none,
            resetStatement: settings.resetStatement
        )
    }
}

extension Components.Schemas.ConnectionState {
    /// Every state PoolCore shows has its wire name (`ConnectionStateWireTests`); should one ever be
    /// missing, `opening` is the least wrong, since every state but `idle` counts against `max`
    /// and is not available for hand-out.
    init(connectionState: String) {
        self = Self(rawValue: connectionState) ?? .opening
    }
}

extension Components.Schemas.TransactionStatus {
    init(_ status: PGTransactionStatus) {
        self = switch status {
        case .idle: .idle
        case .active: .active
        case .inTransaction: .inTransaction
        case .inFailedTransaction: .inError
        case .unknown: .unknown
        }
    }
}

extension Components.Schemas.Lease {
    init(_ view: LeaseView) {
        self.init(
            token: view.token ?? view.tokenPrefix,
            tokenPrefix: view.tokenPrefix,
            pool: view.pool,
            caller: view.caller,
            connectionId: view.connectionID,
            backendPid: Int(view.backendPID),
            createdAt: view.createdAt,
            expiresAt: view.expiresAt,
            lastUsedAt: view.lastUsedAt,
            ttlMs: Int(view.ttl.milliseconds),
            transactionStatus: .init(view.transactionStatus),
            key: view.key
        )
    }
}

extension Components.Schemas.LeaseInfo {
    init(_ view: LeaseView) {
        self.init(
            tokenPrefix: view.tokenPrefix,
            pool: view.pool,
            caller: view.caller,
            connectionId: view.connectionID,
            backendPid: Int(view.backendPID),
            createdAt: view.createdAt,
            expiresAt: view.expiresAt,
            lastUsedAt: view.lastUsedAt,
            ttlMs: Int(view.ttl.milliseconds),
            transactionStatus: .init(view.transactionStatus),
            key: view.key
        )
    }
}

extension Components.Schemas.QueryResult {
    /// `elapsed` nil: one statement of several, whose own time is not known apart.
    init(_ result: PGQueryResult, elapsed: Duration?) throws {
        self.init(
            command: result.command,
            rowCount: result.rowCount ?? 0,
            columns: result.columns.map { .init(name: $0.name, _type: $0.typeName, typeOid: Int($0.typeOID)) },
            rows: try result.rows.map { row in try row.map { try OpenAPIValueContainer(unvalidatedValue: $0.sendableValue) } },
            elapsedMs: elapsed.map { Int($0.milliseconds) }
        )
    }
}

extension JSONValue {
    /// The plain Swift value OpenAPIValueContainer accepts.
    var sendableValue: (any Sendable)? {
        switch self {
        case .null: nil
        case .bool(let value): value
        case .int(let value): Int(value)
        case .double(let value): value
        case .string(let value): value
        case .array(let values): values.map(\.sendableValue)
        case .object(let members): Dictionary(members.map { ($0.key, $0.value.sendableValue) }, uniquingKeysWith: { _, last in last })
        }
    }
}

extension Components.Schemas.ReloadResult {
    init(_ report: ReloadReport) {
        self.init(
            changes: report.changes.map { change in
                .init(
                    kind: .init(rawValue: change.kind.rawValue) ?? .other,
                    name: change.name,
                    fields: change.fields,
                    detail: change.detail
                )
            },
            restartRequired: report.restartRequired,
            failures: report.failures
        )
    }
}

extension Components.Schemas.ConfigProblem {
    init(_ problem: PoolWardenRuntime.ConfigProblem) {
        self.init(field: problem.path, message: problem.message, line: problem.line, column: problem.column)
    }
}
