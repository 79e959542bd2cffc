import Foundation
import PostgresLibPQ

// SELECT 1 round trips per second through PGConnection at each client count: every client is one
// connection in a loop, all in flight at once on the reactor. Prints one line per count:
// `clients=N qps=X`, which bench/driver sets beside pgbench's figure.

struct Options {
    var conninfo = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
    var clients = [1, 16]
    var seconds = 5.0

    init(arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--conninfo": conninfo = iterator.next() ?? conninfo
            case "--clients": clients = (iterator.next() ?? "").split(separator: ",").compactMap { Int($0) }
            case "--seconds": seconds = Double(iterator.next() ?? "") ?? seconds
            default:
                FileHandle.standardError.write(Data("usage: DriverBenchmark [--conninfo C] [--clients 1,16] [--seconds S]\n".utf8))
                exit(1)
            }
        }
    }
}

let options = Options(arguments: CommandLine.arguments)

func run(clients: Int, onReactor: Bool) async throws -> Double {
    var connections: [PGConnection] = []
    for _ in 0..<clients { connections.append(try await PGConnection.connect(PGConnectOptions(conninfo: options.conninfo))) }
    defer { connections.forEach { $0.close() } }
    for connection in connections { _ = try await connection.query("SELECT 1") }
    let duration = Duration.milliseconds(Int(options.seconds * 1000))
    let deadline = ContinuousClock.now.advanced(by: duration)
    let started = ContinuousClock.now
    let total = try await withThrowingTaskGroup(of: Int.self) { group in
        for connection in connections {
            group.addTask(executorPreference: onReactor ? connection.executor : nil) {
                var count = 0
                while ContinuousClock.now < deadline {
                    _ = try await connection.query("SELECT 1")
                    count += 1
                }
                return count
            }
        }
        return try await group.reduce(0, +)
    }
    let elapsed = started.duration(to: .now)
    return Double(total) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
}

for clients in options.clients {
    let pooled = try await run(clients: clients, onReactor: false)
    let onReactor = try await run(clients: clients, onReactor: true)
    print("clients=\(clients) qps=\(Int(onReactor)) global_executor_qps=\(Int(pooled))")
}
