/// The answer to a borrow.
public struct BorrowOutcome: Sendable, Equatable {
    /// The lease, with its full token.
    public var lease: LeaseView
    /// False when the caller's idempotency key found its existing live lease (HTTP 200 instead of 201).
    public var created: Bool
    /// The wait the borrow ran under, for a caller that repeats it within the same wait.
    var wait: Duration = .zero

    public init(lease: LeaseView, created: Bool) {
        self.lease = lease
        self.created = created
    }

    init(lease: LeaseView, created: Bool, wait: Duration) {
        self.init(lease: lease, created: created)
        self.wait = wait
    }
}
