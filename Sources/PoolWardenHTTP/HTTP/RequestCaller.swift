import PoolWardenRuntime

/// The authenticated caller of the request being handled, set by `AuthMiddleware` for the
/// generated handlers, whose signatures carry no request context.
enum RequestCaller {
    @TaskLocal static var current: CallerIdentity?

    /// The caller, or `unauthorized` when a route that needs one was reached without it.
    static func require() throws(WardenError) -> CallerIdentity {
        guard let caller = current else { throw WardenError.unauthorized("missing bearer key") }
        return caller
    }

    /// The caller, who must be an admin.
    static func requireAdmin() throws(WardenError) -> CallerIdentity {
        let caller = try require()
        guard caller.isAdmin else { throw WardenError.forbidden("this route needs the admin role") }
        return caller
    }

    /// The caller, who must be allowed to use `pool`.
    static func require(pool: String) throws(WardenError) -> CallerIdentity {
        let caller = try require()
        guard caller.mayUse(pool: pool) else { throw WardenError.forbidden("caller \(caller.name) has no grant for pool \(pool)") }
        return caller
    }
}
