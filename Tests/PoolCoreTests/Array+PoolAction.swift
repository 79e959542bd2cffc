@testable import PoolCore

/// Picks the actions of one kind out of an event's answer.
extension Array where Element == PoolAction {
    var grants: [LeaseGrant] {
        self.compactMap { if case .grant(let grant) = $0 { return grant } else { return nil } }
    }

    var failures: [(request: UInt64, failure: BorrowFailure)] {
        self.compactMap { if case .fail(let request, _, let failure) = $0 { return (request, failure) } else { return nil } }
    }

    var opens: [ConnectionID] {
        self.compactMap { if case .open(let id, _, _) = $0 { return id } else { return nil } }
    }

    var closes: [(ConnectionID, CloseReason)] {
        self.compactMap { if case .close(let id, let reason) = $0 { return (id, reason) } else { return nil } }
    }

    var resets: [ConnectionID] {
        self.compactMap { if case .reset(let id) = $0 { return id } else { return nil } }
    }

    var checks: [ConnectionID] {
        self.compactMap { if case .healthCheck(let id) = $0 { return id } else { return nil } }
    }

    var revokes: [(LeaseID, RevokeReason)] {
        self.compactMap { if case .revoke(let lease, _, let reason) = $0 { return (lease, reason) } else { return nil } }
    }

    var scheduled: [PoolTimer] {
        self.compactMap { if case .schedule(let timer) = $0 { return timer } else { return nil } }
    }

    func failure(of request: UInt64) -> BorrowFailure? {
        self.failures.first { $0.request == request }?.failure
    }

    func grant(of request: UInt64) -> LeaseGrant? {
        self.grants.first { $0.request == request }
    }
}
