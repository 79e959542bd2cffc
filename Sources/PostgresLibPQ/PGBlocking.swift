import Dispatch

/// Runs a libpq call that may block (host name lookup inside connect, PQcancel) on a thread of its
/// own, never on Swift's cooperative pool.
enum PGBlocking {
    static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            // A serial queue of its own targets dispatch's overcommitting root queue: a lookup that
            // hangs gets a new thread instead of starving the other connects.
            DispatchQueue(label: "poolwarden.libpq.blocking").async {
                continuation.resume(returning: body())
            }
        }
    }
}
