#if canImport(Glibc)
import Glibc
#endif
import Foundation
import TestPostgres

/// Runs the built `poolwarden` binary as a script would: an environment of its own (nothing of
/// the test process's `POOLWARDEN_*`), stdout and stderr kept apart, and the exit status.
enum CLIProcess {
    struct Result: Sendable, CustomStringConvertible {
        var status: Int32
        var stdout: String
        var stderr: String

        var description: String { "exit \(status)\n--- stdout\n\(stdout)--- stderr\n\(stderr)" }
    }

    /// The `poolwarden` binary next to the test bundle in the build directory.
    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("poolwarden").path
    }

    /// `executable`: another program than `poolwarden` (the tests' openssl), run the same way:
    /// waited for with `waitpid` on its own pid, as Foundation's `Process` can miss its child's
    /// exit in this process, where other tests spawn and reap children too.
    static func run(_ arguments: [String], environment: [String: String] = [:], executable: String = binary) async throws -> Result {
        let base = NSTemporaryDirectory() + "poolwarden-cli-\(UUID().uuidString)"
        let outPath = base + ".out", errPath = base + ".err"
        defer {
            try? FileManager.default.removeItem(atPath: outPath)
            try? FileManager.default.removeItem(atPath: errPath)
        }
        var variables = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": NSTemporaryDirectory()]
        variables.merge(environment) { _, given in given }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        SpawnActions.closeInherited(&actions)
        let argv = ([executable] + arguments).map { strdup($0) }
        let envp = variables.map { strdup("\($0.key)=\($0.value)") }
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = (argv + [nil]).withUnsafeBufferPointer { arguments in
            (envp + [nil]).withUnsafeBufferPointer { environment in
                posix_spawn(&pid, argv[0]!, &actions, nil, arguments.baseAddress!, environment.baseAddress!)
            }
        }
        guard spawned == 0 else { throw HarnessError("cannot start \(executable): error \(spawned)") }

        // waitpid blocks: off the cooperative pool, which also runs the in-process service.
        let status = try await TestPostgres.offThread { [pid] () -> Int32 in
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            return status
        }
        let exitStatus = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Result(
            status: exitStatus,
            stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        )
    }
}
