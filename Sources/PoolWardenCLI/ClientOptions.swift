import ArgumentParser
import Foundation

/// Where the service is, who is asking, and how to print: shared by every client subcommand.
struct ClientOptions: ParsableArguments {
    static let defaultURL = "http://127.0.0.1:8080"

    @Option(name: .long, help: ArgumentHelp(
        "The service's base URL. Default: $POOLWARDEN_URL, else \(ClientOptions.defaultURL).",
        valueName: "url"
    ))
    var url: String?

    // Not `--key`: `borrow --key` is the idempotency key of the contract's BorrowRequest.
    @Option(name: .customLong("api-key"), help: ArgumentHelp(
        "The caller's key, sent as a bearer token. Default: $POOLWARDEN_KEY. Prefer the environment: other users can read a command line.",
        valueName: "key"
    ))
    var apiKey: String?

    @Option(name: .long, help: ArgumentHelp(
        "PEM file of the CA that signed the service's certificate, trusted instead of the system's CAs. Default: $POOLWARDEN_CACERT.",
        valueName: "file"
    ))
    var cacert: String?

    @Option(name: .long, help: ArgumentHelp(
        "PEM file of this client's certificate (chain), for a service that requires one. Default: $POOLWARDEN_CERT.",
        valueName: "file"
    ))
    var cert: String?

    @Option(name: .customLong("cert-key"), help: ArgumentHelp(
        "PEM file of the private key of --cert. Default: $POOLWARDEN_CERT_KEY.",
        valueName: "file"
    ))
    var certKey: String?

    @Flag(name: .long, help: "Print the service's JSON answer as it came, instead of text.")
    var json = false

    func validate() throws {
        _ = try baseURL()
        if (certificateFile == nil) != (certificateKeyFile == nil) {
            throw ValidationError("give a client certificate and its key together: --cert and --cert-key (or POOLWARDEN_CERT and POOLWARDEN_CERT_KEY)")
        }
    }

    /// The CA file to trust, from `--cacert`, then `POOLWARDEN_CACERT`.
    var caFile: String? { cacert ?? Self.environment("POOLWARDEN_CACERT") }

    /// The client certificate file, from `--cert`, then `POOLWARDEN_CERT`.
    var certificateFile: String? { cert ?? Self.environment("POOLWARDEN_CERT") }

    /// The client certificate's key file, from `--cert-key`, then `POOLWARDEN_CERT_KEY`.
    var certificateKeyFile: String? { certKey ?? Self.environment("POOLWARDEN_CERT_KEY") }

    /// The service's base URL, from `--url`, then `POOLWARDEN_URL`, then the default.
    func baseURL() throws -> URL {
        let text = url ?? Self.environment("POOLWARDEN_URL") ?? Self.defaultURL
        guard let parsed = URL(string: text), let scheme = parsed.scheme?.lowercased(),
              scheme == "http" || scheme == "https", parsed.host?.isEmpty == false else {
            throw ValidationError("\"\(text)\" is not an http:// or https:// URL (from \(url == nil ? "POOLWARDEN_URL" : "--url"))")
        }
        return parsed
    }

    /// The caller's key, from `--api-key`, then `POOLWARDEN_KEY`; nil when neither is set.
    var key: String? {
        if let apiKey, !apiKey.isEmpty { return apiKey }
        return Self.environment("POOLWARDEN_KEY")
    }

    private static func environment(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
        return value
    }
}
