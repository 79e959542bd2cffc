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

    @Flag(name: .long, help: "Print the service's JSON answer as it came, instead of text.")
    var json = false

    func validate() throws {
        _ = try baseURL()
    }

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
