/// `listen.tls`: the API is served over HTTPS with this certificate and key; with a client CA,
/// every client must also present a certificate that CA signed (mutual TLS). The files are read
/// at start and again at each reload, so a renewed certificate needs no restart.
public struct ListenTLS: Sendable, Equatable {
    /// PEM: the server's certificate, then any intermediates.
    public var certificateFile: String
    /// PEM: the certificate's private key.
    public var keyFile: String
    /// PEM: the CA (or CAs) whose client certificates are accepted; nil: no client certificate is
    /// asked for.
    public var clientCAFile: String?

    public init(certificateFile: String, keyFile: String, clientCAFile: String? = nil) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.clientCAFile = clientCAFile
    }

    /// Whether clients must present a certificate, so that callers may be known by its subject.
    public var requiresClientCertificates: Bool { clientCAFile != nil }
}
