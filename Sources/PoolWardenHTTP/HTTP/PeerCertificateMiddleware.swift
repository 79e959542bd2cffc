import Hummingbird
import NIOCore
import NIOSSL
import PoolWardenRuntime

/// The subject of the client certificate of the request being handled, for `AuthMiddleware` and
/// the pool list's fast path: set only where clients present certificates (mutual TLS).
enum RequestPeer {
    @TaskLocal static var subject: CertificateSubject?

    /// The subject of a verified client certificate, most specific attribute first (RFC 4514's
    /// order; a certificate stores the least specific first). An attribute of a kind NIOSSL does
    /// not name becomes `?`, which no `cert_subject` can match: such a certificate identifies no
    /// caller, rather than one whose name it only partly shows.
    static func subject(of certificate: NIOSSLCertificate) -> CertificateSubject {
        let known: [(SSLCertificateNameType, String)] = [
            (.commonName, "CN"), (.organization, "O"), (.organizationalUnit, "OU"), (.country, "C"),
            (.state, "ST"), (.city, "L"), (.emailAddress, "emailAddress"), (.userId, "UID"),
        ]
        let attributes = certificate.subjectName.reversed().map { name in
            let type = known.first { $0.0 == name.type }?.1 ?? "?"
            return CertificateSubject.Attribute(type: type, value: name.value)
        }
        return CertificateSubject(attributes: attributes)
    }
}

/// Reads the client certificate of the request's connection (already verified against
/// `listen.tls.client_ca_file` by the handshake) and makes its subject known to authentication.
/// Installed only with mutual TLS.
struct PeerCertificateMiddleware: RouterMiddleware {
    func handle(
        _ request: Request,
        context: WardenRequestContext,
        next: (Request, WardenRequestContext) async throws -> Response
    ) async throws -> Response {
        let certificate = try? await context.channel.nioSSL_peerCertificate().get()
        return try await RequestPeer.$subject.withValue(certificate.map(RequestPeer.subject(of:))) {
            try await next(request, context)
        }
    }
}
