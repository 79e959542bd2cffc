import NIOCore

/// The summary of a broadcast for its answer's `PoolWarden-Replicas` header and the log: every
/// replica by name with its status (and problem code), or `unreachable`, this replica first.
public enum Broadcast {
    public static func summary(replica: String, localStatus: Int, peers: [PeerAnswer]) -> String {
        let others = peers.map { answer -> String in
            switch answer.result {
            case .success(let response):
                return "\(answer.replica)=\(response.status)" + (answer.problemCode.map { " \($0)" } ?? "")
            case .failure:
                return "\(answer.replica)=unreachable"
            }
        }
        return (["\(replica)=\(localStatus)"] + others).joined(separator: ", ")
    }

    /// Peers whose part failed: unreachable, or an answer that is not a success.
    public static func failures(_ peers: [PeerAnswer]) -> [PeerAnswer] {
        peers.filter { answer in
            guard case .success(let response) = answer.result else { return true }
            return !(200..<300).contains(response.status)
        }
    }

    /// For a revoke this replica could not find (404): the one peer that revoked the lease, whose
    /// answer then stands for the cluster's. nil when none or several did.
    public static func revoker(localStatus: Int, peers: [PeerAnswer]) -> PeerAnswer.Response? {
        guard localStatus == 404 else { return nil }
        let revoked = peers.compactMap { answer -> PeerAnswer.Response? in
            guard case .success(let response) = answer.result, response.status == 200 else { return nil }
            return response
        }
        return revoked.count == 1 ? revoked[0] : nil
    }
}
