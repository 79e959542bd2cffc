/// One piece of I/O or bookkeeping the runtime must start after an event.
///
/// PoolActions start work; they never block the state machine. Work that finishes later reports back
/// with the event named on each case, carrying the same ``ConnectionID``. PoolActions hold ids, not
/// connection handles: ``PoolGroup/connection(_:)`` returns the handle for an id.
public enum PoolAction: Hashable, Sendable {
    /// Answer the borrow with this lease.
    case grant(LeaseGrant)
    /// Answer the borrow `request` of `pool` with an error.
    case fail(request: UInt64, pool: PoolID, BorrowFailure)
    /// Start connecting for `pool`; `attempt` counts from 1. Report
    /// ``PoolGroup/connectionOpened(_:_:now:)`` or ``PoolGroup/connectFailed(_:error:now:)``.
    case open(ConnectionID, pool: PoolID, attempt: Int)
    /// Roll back whatever the connection has open (ROLLBACK, then DISCARD ALL or RESET ALL as the
    /// runtime sees fit). Report ``PoolGroup/resetSucceeded(_:now:)`` or ``PoolGroup/resetFailed(_:now:)``.
    case reset(ConnectionID)
    /// Run a cheap round trip (`SELECT 1`). Report ``PoolGroup/checkSucceeded(_:now:)`` or
    /// ``PoolGroup/checkFailed(_:now:)``.
    case healthCheck(ConnectionID)
    /// Close the connection (cancelling any statement it runs) and report
    /// ``PoolGroup/connectionClosed(_:now:)``. Its timers may be dropped: they would be ignored.
    case close(ConnectionID, CloseReason)
    /// The lease is gone: cancel any statement it runs; its token answers 410 Gone from now on.
    /// A `reset` or `close` of the same connection follows in the same list.
    case revoke(LeaseID, ConnectionID, RevokeReason)
    /// Call ``PoolGroup/timerFired(_:now:)`` with `timer.kind` once `timer.delay` has passed since
    /// the instant of the event that asked. Replaces any pending timer of the same kind.
    case schedule(PoolTimer)
    /// The pending timer of this kind is no longer needed. Firing it anyway is harmless.
    case cancel(PoolTimerKind)
    /// A deleted pool has no server connection left; its ``PoolID`` is now stale.
    case poolClosed(PoolID)
    /// After ``PoolGroup/shutdown(now:)``: no server connection remains anywhere.
    case shutdownComplete
}
