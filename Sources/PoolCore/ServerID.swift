/// Names one database server whose connection budget several pools share.
public struct ServerID: Hashable, Sendable, CustomStringConvertible {
    @usableFromInline let index: UInt32

    @inlinable
    init(index: UInt32) {
        self.index = index
    }

    public var description: String { "server#\(self.index)" }
}
