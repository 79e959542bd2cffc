import PoolCore

/// The answer to a recycle, `{closed, deferred, revoked}`: PoolCore's own count.
public typealias RecycleCounts = PoolCore.RecycleCounts
