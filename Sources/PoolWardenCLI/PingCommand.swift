import ArgumentParser
import Foundation
import PostgresLibPQ

/// `poolwarden ping`: checks that a PostgreSQL server answers through the driver, the way the
/// service will talk to it.
struct PingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ping",
        abstract: "Connect to PostgreSQL, time round trips and show how values come back as JSON."
    )

    @Argument(help: "libpq conninfo or postgresql:// URI.")
    var conninfo: String

    @Option(help: "Password, read from this environment variable.")
    var passwordEnv: String?

    @Option(help: "Round trips to time.")
    var count: Int = 1000

    func run() async throws {
        let password = passwordEnv.flatMap { ProcessInfo.processInfo.environment[$0] }
        let started = ContinuousClock.now
        let connection: PGConnection
        do {
            connection = try await PGConnection.connect(PGConnectOptions(conninfo: conninfo, password: password, applicationName: "poolwarden ping"))
        } catch let error as PGError {
            printError("connect failed: \(error)")
            throw ExitCode(3)
        }
        defer { connection.close() }
        print("connected in \(milliseconds(started.duration(to: .now))) ms: server \(connection.serverVersion), backend pid \(connection.backendPID)")

        let loop = ContinuousClock.now
        for _ in 0..<count { _ = try await connection.query("SELECT 1") }
        let elapsed = loop.duration(to: .now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("\(count) × SELECT 1: \(milliseconds(elapsed)) ms, \(Int(Double(count) / max(seconds, 1e-9))) round trips/s")

        let sample = try await connection.query(
            "SELECT $1::int AS answer, 9007199254740993::int8 AS big, 0.1::float8 AS ratio, 'NaN'::float8 AS nan, true AS ok, 12.50::numeric AS price, now()::date - date '2000-01-01' AS days, '{\"a\":[1,2]}'::jsonb AS doc, '\\xdead'::bytea AS raw, NULL::text AS nothing",
            ["42"]
        )
        let names = sample.columns.map { "\($0.name) (\($0.typeName))" }
        print("columns: \(names.joined(separator: ", "))")
        let encoder = JSONEncoder()
        let row = try encoder.encode(sample.rows.first ?? [])
        print("row as JSON: \(String(decoding: row, as: UTF8.self))")

        do {
            _ = try await connection.query("SELECT * FROM no_such_table")
        } catch let error as PGError {
            print("an SQL error comes back typed: \(error); the connection is still usable: \(connection.isUsable)")
        }
    }

    private func milliseconds(_ duration: Duration) -> String {
        let value = Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
        return String(format: "%.1f", value)
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
