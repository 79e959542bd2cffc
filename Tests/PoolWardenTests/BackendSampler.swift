import PostgresLibPQ
import Synchronization
import TestPostgres

/// Samples, every 100 ms from a connection of its own, how many client backends are connected to
/// one database, and keeps the largest count seen: invariant 1 as PostgreSQL sees it.
final class BackendSampler: Sendable {
    private final class Tally: Sendable {
        let state = Mutex((peak: 0, samples: 0))
    }

    private let tally = Tally()
    private let task: Task<Void, Never>

    init(_ server: TestServer, database: String) async throws {
        let connection = try await server.connect()
        let tally = self.tally
        // On the driver's reactor: the samples must keep coming while the global executor is busy.
        task = Task(executorPreference: connection.executor) {
            defer { connection.close() }
            while !Task.isCancelled {
                if let result = try? await connection.query(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'", [database]
                ), case .int(let count) = result.rows.first?.first {
                    tally.state.withLock { $0 = (max($0.peak, Int(count)), $0.samples + 1) }
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// The largest count seen so far, and how many samples were taken.
    var seen: (peak: Int, samples: Int) { tally.state.withLock { $0 } }

    func stop() -> (peak: Int, samples: Int) {
        task.cancel()
        return seen
    }
}
