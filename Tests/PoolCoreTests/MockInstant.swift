/// A test clock instant: a plain offset that only moves when a test moves it.
struct MockInstant: InstantProtocol, CustomStringConvertible {
    var offset: Duration

    init(_ offset: Duration = .zero) {
        self.offset = offset
    }

    func advanced(by duration: Duration) -> MockInstant {
        MockInstant(self.offset + duration)
    }

    func duration(to other: MockInstant) -> Duration {
        other.offset - self.offset
    }

    static func < (lhs: MockInstant, rhs: MockInstant) -> Bool {
        lhs.offset < rhs.offset
    }

    var description: String { "t+\(self.offset)" }
}
