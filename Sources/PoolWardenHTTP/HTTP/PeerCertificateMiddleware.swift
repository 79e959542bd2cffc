import Hummingbird
import NIOCore
import NIOSSL
import PoolWardenRuntime
import SwiftASN1
import X509

/// The subject of the client certificate of the request being handled, for `AuthMiddleware` and
/// the pool list's fast path: set only where clients present certificates (mutual TLS).
enum RequestPeer {
    @TaskLocal static var subject: CertificateSubject?

    private static let shortNames: [ASN1ObjectIdentifier: String] = [
        [2, 5, 4, 3]: "CN", [2, 5, 4, 10]: "O", [2, 5, 4, 11]: "OU", [2, 5, 4, 6]: "C", [2, 5, 4, 8]: "ST",
        [2, 5, 4, 7]: "L", [2, 5, 4, 9]: "STREET", [0, 9, 2342, 19_200_300, 100, 1, 25]: "DC",
        [0, 9, 2342, 19_200_300, 100, 1, 1]: "UID", [2, 5, 4, 5]: "serialNumber", [1, 2, 840, 113_549, 1, 9, 1]: "emailAddress",
    ]

    /// The subject of a verified client certificate, read from its DER with every attribute and
    /// its grouping kept, most specific name first (RFC 4514's order; a certificate stores the
    /// least specific first). An attribute of a type PoolWarden does not name, or whose value is
    /// not a string (PrintableString, UTF8String, IA5String), becomes ``CertificateSubject/unnamed``,
    /// which no `cert_subject` can match: such a certificate identifies no caller, rather than one
    /// whose subject it only partly shows. nil when the certificate cannot be parsed.
    static func subject(of certificate: NIOSSLCertificate) -> CertificateSubject? {
        guard let der = try? certificate.toDERBytes(), let parsed = try? Certificate(derEncoded: der) else { return nil }
        let names = parsed.subject.reversed().map { name in
            name.map { attribute in
                guard let type = shortNames[attribute.type], let value = String(attribute.value) else {
                    return CertificateSubject.Attribute(type: CertificateSubject.unnamed, value: "\(attribute.value)")
                }
                return CertificateSubject.Attribute(type: type, value: value)
            }
        }
        return CertificateSubject(names: names)
    }
}

/// Reads the client certificate of the request's connection (already verified against
/// `listen.tls.client_ca_file` by the handshake) and makes its subject known to authentication.
/// Installed with any TLS listener, and at work while it asks for client certificates.
struct PeerCertificateMiddleware: RouterMiddleware {
    let tls: ServerTLS

    func handle(
        _ request: Request,
        context: WardenRequestContext,
        next: (Request, WardenRequestContext) async throws -> Response
    ) async throws -> Response {
        guard tls.requiresClientCertificates else { return try await next(request, context) }
        let certificate = try? await context.channel.nioSSL_peerCertificate().get()
        return try await RequestPeer.$subject.withValue(certificate.flatMap(RequestPeer.subject(of:))) {
            try await next(request, context)
        }
    }
}
