/// Names one server connection for its whole life, from the first connect attempt to its close.
///
/// `serial` is unique across the group's lifetime and is what status rows show. The pool and slot
/// let the core find the connection with two array indexes instead of a hash lookup.
public struct ConnectionID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Unique for the lifetime of the ``PoolGroup``, increasing in creation order.
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
    public static func < (lhs: ConnectionID, rhs: ConnectionID) -> Bool {
        lhs.serial < rhs.serial
    }

    public var description: String { "conn#\(self.serial)" }
}
