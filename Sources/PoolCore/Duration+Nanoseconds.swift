extension Duration {
    /// Whole nanoseconds, clamped to `0...Int64.max`: jitter draws need a non-negative integer range
    /// and configured durations are far below the clamp.
    @inlinable
    var clampedNanoseconds: Int64 {
        let (seconds, attoseconds) = self.components
        if seconds < 0 { return 0 }
        if seconds >= Int64.max / 1_000_000_000 { return Int64.max }
        return Swift.max(0, seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
