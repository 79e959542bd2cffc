import Foundation
import PoolWardenRuntime

/// The headers replicas exchange. A request that carries a valid cluster key comes from a peer:
/// it is answered locally, never forwarded or broadcast again, which is what keeps a forward from
/// looping and a broadcast from echoing.
public enum ClusterHeader {
    /// The cluster key (`cluster.key_env`), compared in constant time by the receiver.
    public static let key = "PoolWarden-Cluster-Key"
    /// The subject of the original caller's client certificate (base64 of its RFC 4514 text): what
    /// the owner authenticates instead of the forwarding replica's own certificate. Believed only
    /// together with a valid key.
    public static let subject = "PoolWarden-Cluster-Subject"
    /// On a broadcast's answer: what each replica answered (`a=200, b=404 pool_not_found,
    /// c=unreachable`), this replica first.
    public static let replicas = "PoolWarden-Replicas"

    /// The subject as the `subject` header carries it: base64, since a subject may hold any UTF-8.
    public static func encode(subject: CertificateSubject) -> String {
        Data(subject.description.utf8).base64EncodedString()
    }

    /// The subject a peer carried. nil when it cannot be read, which then authenticates no
    /// certificate caller: the same answer a subject no `cert_subject` names would get.
    public static func decodeSubject(_ header: String) -> CertificateSubject? {
        guard let data = Data(base64Encoded: header) else { return nil }
        return try? CertificateSubject(parsing: String(decoding: data, as: UTF8.self))
    }
}
