import Foundation
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

    /// For a revoke this replica found no lease for: the peers whose lease list (`GET
    /// /v1/pools/{pool}/leases`) shows one `prefix` may name, by name. A token prefix as shown
    /// is 12 characters; a longer one given is compared on those, and its owner checks the rest.
    public static func holders(of prefix: String, in lists: [PeerAnswer]) -> [String] {
        lists.compactMap { answer -> String? in
            guard case .success(let response) = answer.result, response.status == 200,
                  let list = try? JSONDecoder().decode(JSONValue.self, from: Data(response.body.readableBytesView))
            else { return nil }
            let shown = (list["leases"]?.array ?? []).compactMap { $0["token_prefix"]?.string }
            return shown.contains { $0.hasPrefix(prefix) || prefix.hasPrefix($0) } ? answer.replica : nil
        }
    }
}
