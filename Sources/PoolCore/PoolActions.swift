/// The actions one event produced, in the order the runtime should start them.
///
/// The first three live inline, so the common events (a borrow served from an idle connection, a
/// clean release) allocate nothing; only rare bulk events such as a shutdown spill to an array.
public struct PoolActions: RandomAccessCollection, Hashable, Sendable, CustomStringConvertible {
    @usableFromInline var first0: PoolAction?
    @usableFromInline var first1: PoolAction?
    @usableFromInline var first2: PoolAction?
    @usableFromInline var overflow: [PoolAction]
    @usableFromInline var storedCount: Int

    @inlinable
    public init() {
        self.first0 = nil
        self.first1 = nil
        self.first2 = nil
        self.overflow = []
        self.storedCount = 0
    }

    @inlinable
    public var startIndex: Int { 0 }

    @inlinable
    public var endIndex: Int { self.storedCount }

    @inlinable
    public subscript(position: Int) -> PoolAction {
        precondition(position >= 0 && position < self.storedCount, "index out of range")
        switch position {
        case 0: return self.first0.unsafelyUnwrapped
        case 1: return self.first1.unsafelyUnwrapped
        case 2: return self.first2.unsafelyUnwrapped
        default: return self.overflow[position - 3]
        }
    }

    @inlinable
    public mutating func append(_ action: PoolAction) {
        switch self.storedCount {
        case 0: self.first0 = action
        case 1: self.first1 = action
        case 2: self.first2 = action
        default: self.overflow.append(action)
        }
        self.storedCount += 1
    }

    public var description: String { Array(self).description }
}
