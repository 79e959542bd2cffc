/// Names one pool inside a ``PoolGroup``.
///
/// The epoch makes an id of a deleted pool stale even after its storage index is reused, so a late
/// event for the old pool cannot touch the new one.
public struct PoolID: Hashable, Sendable, CustomStringConvertible {
    @usableFromInline let index: UInt32
    @usableFromInline let epoch: UInt32

    @inlinable
    init(index: UInt32, epoch: UInt32) {
        self.index = index
        self.epoch = epoch
    }

    public var description: String { "pool#\(self.index).\(self.epoch)" }
}
