/// Why a peer gave no usable answer. Its description is shown to operators (`replicas[].error`,
/// `PoolWarden-Replicas`, logs) and holds no key, token or request path.
public struct PeerFailure: Error, Sendable, CustomStringConvertible {
    /// Whether the peer was reached at all: false for a refused or timed-out connect, a broken
    /// connection or no answer in time; true for an answer that was an error.
    public var reachable: Bool
    public var description: String

    public init(reachable: Bool, _ description: String) {
        self.reachable = reachable
        self.description = description
    }
}
