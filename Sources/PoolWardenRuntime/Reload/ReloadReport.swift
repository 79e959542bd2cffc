/// What a reload changed, in the order it was applied: the answer of `POST /v1/reload`, and the
/// lines the service logs.
public struct ReloadReport: Sendable, Equatable {
    public var changes: [ReloadChange]
    /// Keys the file changed that only a restart applies (the listen address, say); the service
    /// goes on with their running values.
    public var restartRequired: [String]
    /// Steps that failed although the file was valid, such as a pool created over the API under
    /// the same name between the check and the change; empty as a rule.
    public var failures: [String]

    public init(changes: [ReloadChange] = [], restartRequired: [String] = [], failures: [String] = []) {
        self.changes = changes
        self.restartRequired = restartRequired
        self.failures = failures
    }
}

/// One change a reload made. Never carries a secret: a password or key shows as the key that
/// changed, a conninfo by its key only.
public struct ReloadChange: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        case poolAdded = "pool_added"
        case poolRemoved = "pool_removed"
        case poolChanged = "pool_changed"
        case callerAdded = "caller_added"
        case callerRemoved = "caller_removed"
        case callerChanged = "caller_changed"
        case serverAdded = "server_added"
        case serverRemoved = "server_removed"
        case serverChanged = "server_changed"
        /// Made by a participant the service was given (see ``ReloadParticipant``).
        case other
    }

    public var kind: Kind
    /// The pool, caller, `host:port` of a budget, or what a participant reconfigured.
    public var name: String
    /// The config keys that changed, in file order, for the `*_changed` kinds.
    public var fields: [String]
    /// One line for people: what changed and how it was applied.
    public var detail: String

    public init(kind: Kind, name: String, fields: [String] = [], detail: String) {
        self.kind = kind
        self.name = name
        self.fields = fields
        self.detail = detail
    }

    public var description: String { detail }
}
