/// Names one lease. The runtime maps its secret token to this id; the id itself is not a secret.
///
/// Like ``ConnectionID`` it carries the pool and slot of its connection, so releasing a lease is two
/// array indexes and a serial comparison.
public struct LeaseID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Unique for the lifetime of the ``PoolGroup``, increasing in grant order.
    public let serial: UInt64
    @usableFromInline let pool: UInt32
    @usableFromInline let slot: UInt32

    @inlinable
    init(serial: UInt64, pool: UInt32, slot: UInt32) {
        self.serial = serial
        self.pool = pool
        self.slot = slot
    }

    @inlinable
    public static func < (lhs: LeaseID, rhs: LeaseID) -> Bool {
        lhs.serial < rhs.serial
    }

    public var description: String { "lease#\(self.serial)" }
}
