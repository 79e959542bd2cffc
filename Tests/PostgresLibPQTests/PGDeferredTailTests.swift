import PostgresLibPQ
import TestPostgres
import Testing

/// `query(_:then:)`: the tail (a single shot's reset) is read by the next call, and nothing runs
/// on a session the tail failed to clean.
@Suite("A statement with a deferred tail")
struct PGDeferredTailTests {
    @Test("the tail has run before the next call's statement, whichever call comes next")
    func tailRunsBeforeTheNextCall() async throws {
        let connection = try await TestPostgres.server().connect()
        defer { connection.close() }
        for next in ["query", "pipeline", "reset", "probe"] {
            let (outcome, succeeded) = try await connection.query(
                PGStatement("SELECT set_config('app.who', 'alice', false)"), then: [PGStatement("DISCARD ALL")]
            )
            #expect(try outcome.get().rows == [[.string("alice")]])
            #expect(succeeded)
            #expect(connection.transactionStatus == .idle)
            switch next {
            case "pipeline": _ = try await connection.pipeline([PGStatement("SELECT 1")])
            case "reset": try await connection.reset(discardAll: false)
            case "probe": #expect(await connection.probe())
            default: break
            }
            let seen = try await connection.query("SELECT current_setting('app.who', true)")
            #expect(seen.rows == [[.string("")]] || seen.rows == [[.null]], "after \(next): \(seen.rows)")
        }
    }

    @Test("a tail that fails closes the connection before the next statement runs on it")
    func failedTailClosesTheConnection() async throws {
        let server = try await TestPostgres.server()
        let connection = try await server.connect()
        defer { connection.close() }
        let table = "deferred_\(connection.backendPID)"
        try await server.execute("CREATE TABLE IF NOT EXISTS \(table) (id int)")
        let (outcome, _) = try await connection.query(PGStatement("SELECT 1"), then: [PGStatement("SELECT 1/0")])
        #expect(try outcome.get().rows == [[.int(1)]])
        await #expect(throws: PGError.self) {
            try await connection.query("INSERT INTO \(table) VALUES (1)")
        }
        #expect(!connection.isUsable)
        #expect(try await server.execute("SELECT count(*) FROM \(table)").rows == [[.int(0)]])
        try await server.execute("DROP TABLE \(table)")
    }

    @Test("a probe finds a failed tail: the connection is not handed out")
    func probeFindsAFailedTail() async throws {
        let connection = try await TestPostgres.server().connect()
        defer { connection.close() }
        _ = try await connection.query(PGStatement("SELECT 1"), then: [PGStatement("SELECT 1/0")])
        #expect(await connection.probe() == false)
        #expect(!connection.isUsable)
    }

    @Test("a statement that opens a transaction or fails: the tail is read at once and says whether it ran")
    func tailReadAtOnce() async throws {
        let connection = try await TestPostgres.server().connect()
        defer { connection.close() }
        let (begun, cleaned) = try await connection.query(PGStatement("BEGIN"), then: [PGStatement("DISCARD ALL")])
        #expect((try? begun.get()) != nil)
        #expect(!cleaned, "DISCARD ALL cannot run inside the transaction BEGIN opened")
        #expect(connection.transactionStatus == .inFailedTransaction, "the failed DISCARD ALL aborted the transaction")
        try await connection.reset()
        #expect(connection.transactionStatus == .idle)
        let (failed, tailRan) = try await connection.query(PGStatement("SELECT 1/0"), then: [PGStatement("DISCARD ALL")])
        #expect((try? failed.get()) == nil)
        #expect(tailRan)
        #expect(try await connection.query("SELECT 2").rows == [[.int(2)]])
    }
}
