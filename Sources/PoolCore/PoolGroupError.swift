/// Why ``PoolGroup/addPool(_:server:now:)`` refused.
public enum PoolGroupError: Error, Hashable, Sendable {
    /// The group has been shut down.
    case shutDown
    /// The server id does not name a server of this group.
    case unknownServer
}
