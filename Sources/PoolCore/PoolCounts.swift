/// Connections of one pool by state, and its waiting borrows.
public struct PoolCounts: Hashable, Sendable {
    /// Established server connections: idle, checking, leased, resetting or closing.
    public var open: Int = 0
    public var idle: Int = 0
    public var leased: Int = 0
    /// Being opened, including those waiting to retry.
    public var opening: Int = 0
    public var checking: Int = 0
    public var resetting: Int = 0
    public var closing: Int = 0
    public var waiting: Int = 0

    public init() {}
}
