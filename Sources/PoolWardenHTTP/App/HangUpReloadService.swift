import Dispatch
import Foundation
import PoolWardenRuntime
import ServiceLifecycle

/// Reloads the config file on every SIGHUP for as long as the service runs, as daemons do
/// (`systemctl reload`, `kill -HUP`). The reloader logs what changed or why it refused, and
/// serializes reloads, so a burst of signals applies the file once per signal, in order.
struct HangUpReloadService: Service {
    let reloader: ConfigReloader

    func run() async throws {
        // The default disposition ends the process; ignored, the dispatch source still sees the
        // signal. `serve` ignores it already at start, before the service runs.
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler { [reloader] in
            Task { _ = try? await reloader.reload(trigger: "SIGHUP") }
        }
        source.resume()
        try? await gracefulShutdown()
        source.cancel()
    }
}
