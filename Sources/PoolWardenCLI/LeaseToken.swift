/// Lease tokens as this client shows them: only the first 12 characters, as the service does in
/// status, lists and logs, since the whole token is a credential.
enum LeaseToken {
    static func prefix(of token: String) -> String {
        String(token.prefix(12))
    }
}
