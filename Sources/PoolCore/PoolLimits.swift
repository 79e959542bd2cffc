/// The size limits of one pool: `min`, `max` and `max_per_caller` in the config and the API.
public struct PoolLimits: Hashable, Sendable {
    /// Connections kept open even when nobody borrows.
    public var min: Int
    /// Server connections the pool may hold at once, counting ones being opened or closed.
    public var max: Int
    /// Leases one caller may hold in this pool at once, counting its waiting borrows.
    public var maxPerCaller: Int

    /// `maxPerCaller` defaults to `max`: no per-caller limit beyond the pool's.
    public init(min: Int = 0, max: Int = 10, maxPerCaller: Int? = nil) {
        self.min = min
        self.max = max
        self.maxPerCaller = maxPerCaller ?? max
    }

    /// Why these limits cannot be applied, or nil when they can. The runtime answers
    /// `invalid_request` with it; the core clamps invalid limits instead of trapping.
    public var problem: String? {
        if self.max < 1 { return "max must be at least 1" }
        if self.min < 0 { return "min must not be negative" }
        if self.min > self.max { return "min must not exceed max" }
        if self.maxPerCaller < 1 { return "max_per_caller must be at least 1" }
        return nil
    }

    @inlinable
    var clamped: PoolLimits {
        var limits = self
        limits.max = Swift.max(1, limits.max)
        limits.min = Swift.min(Swift.max(0, limits.min), limits.max)
        limits.maxPerCaller = Swift.max(1, limits.maxPerCaller)
        return limits
    }
}
