import PoolCore

/// The concrete types the registry's ``PoolGroup`` works with: real connections, callers named as
/// in the config, the continuous clock, and the system CSPRNG for backoff and lifetime jitter.
enum WardenPoolTypes: PoolTypes {
    typealias Connection = ServerConnection
    typealias Caller = String
    typealias Instant = ContinuousClock.Instant
    typealias Random = SystemRandomNumberGenerator
}
