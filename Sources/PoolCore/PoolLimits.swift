/// The size limits of one pool: `min`, `max`, `max_per_caller` and `max_waiting` in the config
/// and the API.
public struct PoolLimits: Hashable, Sendable {
    /// `max_waiting` when none is given: this many borrows per connection of `max` may wait.
    public static let waitingPerConnection = 10

    /// Connections kept open even when nobody borrows.
    public var min: Int
    /// Server connections the pool may hold at once, counting ones being opened or closed.
    public var max: Int
    /// Leases one caller may hold in this pool at once. Its borrows beyond them wait.
    public var maxPerCaller: Int
    /// Borrows that may wait in this pool at once; a borrow that would wait beyond them is refused
    /// with ``BorrowFailure/tooManyWaiting``.
    public var maxWaiting: Int

    /// `maxPerCaller` defaults to `max` (no per-caller limit beyond the pool's), `maxWaiting` to
    /// ``waitingPerConnection`` times `max`.
    public init(min: Int = 0, max: Int = 10, maxPerCaller: Int? = nil, maxWaiting: Int? = nil) {
        self.min = min
        self.max = max
        self.maxPerCaller = maxPerCaller ?? max
        self.maxWaiting = maxWaiting ?? Self.defaultMaxWaiting(max: max)
    }

    /// `max_waiting` for a pool of `max` connections that names none.
    public static func defaultMaxWaiting(max: Int) -> Int {
        let (product, overflow) = Swift.max(1, max).multipliedReportingOverflow(by: Self.waitingPerConnection)
        return overflow ? Int.max : product
    }

    /// Why these limits cannot be applied, or nil when they can. The runtime answers
    /// `invalid_request` with it; the core clamps invalid limits instead of trapping.
    public var problem: String? {
        if self.max < 1 { return "max must be at least 1" }
        if self.min < 0 { return "min must not be negative" }
        if self.min > self.max { return "min must not exceed max" }
        if self.maxPerCaller < 1 { return "max_per_caller must be at least 1" }
        if self.maxWaiting < 0 { return "max_waiting must not be negative" }
        return nil
    }

    @inlinable
    var clamped: PoolLimits {
        var limits = self
        limits.max = Swift.max(1, limits.max)
        limits.min = Swift.min(Swift.max(0, limits.min), limits.max)
        limits.maxPerCaller = Swift.max(1, limits.maxPerCaller)
        limits.maxWaiting = Swift.max(0, limits.maxWaiting)
        return limits
    }
}
