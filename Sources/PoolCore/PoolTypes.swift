/// The concrete types a ``PoolGroup`` works with, bundled so the group has a single generic parameter.
///
/// The runtime supplies its connection handle, caller identity, clock instant and random number
/// generator; tests supply plain values, a mock instant and a seeded generator.
///
/// ```swift
/// enum WardenPoolTypes: PoolTypes {
///     typealias Connection = PostgresConnection
///     typealias Caller = String
///     typealias Instant = ContinuousClock.Instant
///     typealias Random = SystemRandomNumberGenerator
/// }
/// ```
///
/// Borrow requests are named by `UInt64` ids the runtime hands out, and connect errors are the
/// (password-redacted) libpq text. Neither is generic: every ``PoolAction`` is then a plain value of
/// one non-generic type, which keeps the hot path free of generic value-witness calls.
public protocol PoolTypes {
    /// The runtime's handle for an open server connection. The group stores it so the runtime can
    /// look it up by ``ConnectionID`` (``PoolGroup/connection(_:)``) and show it in status rows.
    associatedtype Connection
    /// Who borrows. Quotas and idempotency keys are per caller.
    associatedtype Caller: Hashable
    /// A point in time. Every event carries the current one; the group never reads a clock.
    associatedtype Instant: InstantProtocol where Instant.Duration == Duration
    /// The source of jitter for connect backoff and connection lifetimes.
    associatedtype Random: RandomNumberGenerator
}
