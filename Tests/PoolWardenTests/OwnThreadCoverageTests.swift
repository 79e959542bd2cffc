import Foundation
import Testing
import TestPostgres

/// Issue 12: a test body on Swift's cooperative pool shares its two threads with every other test
/// of the run, and a loaded machine then stretches that test's own steps by seconds, which its
/// bounds took for the service's. Every suite that talks to PostgreSQL or a service runs on a
/// thread of its own (`.ownThread`), and a new suite cannot forget it.
@Suite("Every integration suite runs on its own thread", .ownThread)
struct OwnThreadCoverageTests {
    @Test("each @Suite of PoolWardenTests and PostgresLibPQTests carries .ownThread")
    func everySuiteHasItsOwnThread() throws {
        let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        var missing: [String] = []
        var suites = 0
        for target in ["PoolWardenTests", "PostgresLibPQTests"] {
            let directory = tests.appendingPathComponent(target)
            for file in try FileManager.default.contentsOfDirectory(atPath: directory.path) where file.hasSuffix(".swift") {
                let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
                for line in text.split(separator: "\n") where line.hasPrefix("@Suite") {
                    suites += 1
                    if !line.contains(".ownThread") { missing.append("\(file): \(line)") }
                }
            }
        }
        #expect(suites > 40, "the scan found the suites")
        #expect(missing.isEmpty, "suites on the cooperative pool:\n\(missing.joined(separator: "\n"))")
    }
}
