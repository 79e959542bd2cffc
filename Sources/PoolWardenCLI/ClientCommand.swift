import ArgumentParser

/// A subcommand that talks to the service. It gets a session from the shared options, and every
/// failure ends in the documented exit status: 2 with the problem on stderr when the service
/// said no, 3 when it could not be reached.
protocol ClientCommand: AsyncParsableCommand {
    var options: ClientOptions { get }

    /// How long one request may take; longer than the default only where the command asks the
    /// service to wait longer (a long statement timeout).
    var requestTimeout: Duration { get }

    func run(with session: APISession) async throws
}

extension ClientCommand {
    var requestTimeout: Duration { APISession.defaultTimeout }

    func run() async throws {
        let session: APISession
        do {
            session = try APISession(options: options, timeout: requestTimeout)
        } catch let failure as CLIFailure {
            printError(failure.message)
            throw failure.exitCode
        }
        do {
            try await run(with: session)
            await session.shutdown()
        } catch let failure as CLIFailure {
            session.report(failure)
            await session.shutdown()
            throw failure.exitCode
        } catch {
            await session.shutdown()
            throw error
        }
    }
}
