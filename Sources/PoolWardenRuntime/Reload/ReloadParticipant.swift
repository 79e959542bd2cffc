/// Applies what ``ReloadParticipant/prepare(_:running:)`` accepted and says what changed; it
/// cannot fail, everything that could was checked in `prepare`.
public typealias ReloadCommit = @Sendable () async -> [ReloadChange]

/// A part of the service that a reload reconfigures beside the pools, such as the callers or the
/// TLS certificate: passed to `buildApplication` (`reloadParticipants:`), asked by every reload.
///
/// A reload runs in two phases so that a bad file changes nothing. First every participant's
/// `prepare` checks the new configuration and readies what it needs (reads and parses a
/// certificate, say) without changing anything the service uses, throwing every problem by
/// field (`listen.tls.cert_file: ...`) to refuse the whole reload. Only when no participant and
/// no pool refused are the returned commits run, each once, in the order the participants were
/// given. Reloads are serialized: `prepare` and its commit never run beside another reload's.
public protocol ReloadParticipant: Sendable {
    /// Checks `new` against `running` (the configuration in force) and returns how to apply it.
    /// Must not change what the service uses; throws every problem found.
    func prepare(_ new: WardenConfig, running: WardenConfig) async throws(ConfigError) -> ReloadCommit
}
