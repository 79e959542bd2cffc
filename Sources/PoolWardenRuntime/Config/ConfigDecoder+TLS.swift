import Foundation
import Yams

extension ConfigDecoder {
    static let tlsKeys = ["cert_file", "key_file", "client_ca_file"]
    static let tlsAliases = [
        "cert": "cert_file", "certificate": "cert_file", "certificatefile": "cert_file", "certfile": "cert_file",
        "key": "key_file", "privatekey": "key_file", "keyfile": "key_file", "privatekeyfile": "key_file",
        "ca": "client_ca_file", "cafile": "client_ca_file", "clientca": "client_ca_file", "cacert": "client_ca_file",
    ]

    /// `listen.tls`. Each file must exist and hold PEM of its kind; whether the key fits the
    /// certificate is checked where TLS is set up, which has the parser (the HTTP layer), at
    /// start and by `--check-config`.
    func decodeTLS(_ listen: MappingReader) -> FieldValue<ListenTLS> {
        guard let node = listen.value("tls") else { return .absent }
        guard let reader = MappingReader(node, path: listen.field("tls"), keys: Self.tlsKeys, aliases: Self.tlsAliases, log: log) else {
            return .invalid
        }
        let certificate = pemFile(reader, "cert_file", marker: "CERTIFICATE", required: true)
        let key = pemFile(reader, "key_file", marker: "PRIVATE KEY", required: true)
        let clientCA = pemFile(reader, "client_ca_file", marker: "CERTIFICATE", required: false)
        guard case .value(let certificateFile) = certificate, case .value(let keyFile) = key, !clientCA.isInvalid else {
            return .invalid
        }
        return .value(ListenTLS(certificateFile: certificateFile, keyFile: keyFile, clientCAFile: clientCA.value))
    }

    /// The path of a readable PEM file holding a `-----BEGIN ...marker-----` block, relative paths
    /// taken from the config file's folder.
    private func pemFile(_ reader: MappingReader, _ key: String, marker: String, required: Bool) -> FieldValue<String> {
        guard case .value(let written) = reader.string(key, required: required) else {
            return reader.contains(key) || required ? .invalid : .absent
        }
        let path = resolvedPath(written)
        var isDirectory: ObjCBool = false
        let problem: String?
        if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            problem = "\(path): no such file"
        } else if isDirectory.boolValue {
            problem = "\(path): is a directory"
        } else if !FileManager.default.isReadableFile(atPath: path) {
            problem = "\(path): cannot be read (permission denied?)"
        } else if let data = FileManager.default.contents(atPath: path),
                  String(decoding: data, as: UTF8.self).range(of: "-----BEGIN [A-Z0-9 ]*\(marker)-----", options: .regularExpression) != nil {
            problem = nil
        } else {
            // Never the file's content: a key file may be named here by mistake.
            problem = "\(path): holds no PEM \(marker.lowercased()) (-----BEGIN ...\(marker)-----)"
        }
        if let problem {
            log.add(reader.field(key), problem, at: reader.value(key))
            return .invalid
        }
        return .value(path)
    }

    func resolvedPath(_ written: String) -> String {
        let path = String(ConfigText.trimmed(written))
        guard !path.hasPrefix("/"), let baseDirectory else { return path }
        return URL(fileURLWithPath: baseDirectory).appendingPathComponent(path).standardizedFileURL.path
    }
}
