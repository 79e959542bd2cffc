import PostgresLibPQ
import TestPostgres
import Testing

/// `PGConnection.transaction` (BEGIN, statements and COMMIT in one pipeline sync segment) and
/// `PGConnection.batch` (statements one after another, stopping at a failure).
@Suite("Transactions and batches", .ownThread)
struct PGConnectionTransactionTests {
    static func table(_ connection: PGConnection) async throws -> String {
        let name = "tx_\(UInt32.random(in: 0...UInt32.max))"
        _ = try await connection.query("CREATE TABLE \(name) (id int PRIMARY KEY)")
        return name
    }

    @Test("BEGIN's modes are spelled from fixed words")
    func beginStatement() {
        #expect(PGTransactionMode().beginStatement == "BEGIN")
        #expect(
            PGTransactionMode(isolation: .serializable, readOnly: true, deferrable: true).beginStatement
                == "BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE"
        )
        #expect(PGTransactionMode(isolation: .repeatableRead, readOnly: false).beginStatement == "BEGIN ISOLATION LEVEL REPEATABLE READ, READ WRITE")
    }

    @Test("every statement's result comes back, COMMIT ran, the trailing reset too, and the session is idle")
    func commits() async throws {
        let connection = try await TestPostgres.server().connect()
        defer { connection.close() }
        let table = try await Self.table(connection)
        let outcome = try await connection.transaction(
            PGTransactionMode(isolation: .repeatableRead),
            [PGStatement("INSERT INTO \(table) VALUES ($1)", ["1"]), PGStatement("SHOW transaction_isolation")],
            budget: .unlimited,
            then: [PGStatement("DISCARD ALL")]
        )
        #expect(outcome.failure == nil)
        #expect(outcome.committed)
        #expect(outcome.results.map(\.command) == ["INSERT", "SHOW"])
        #expect(outcome.results.last?.rows == [[.string("repeatable read")]])
        #expect(outcome.trailing.count == 1)
        #expect((try? outcome.trailing[0].get())?.command == "DISCARD")
        #expect(connection.transactionStatus == .idle)
        #expect(try await connection.query("SELECT count(*)::int FROM \(table)").rows == [[.int(1)]])
    }

    @Test("a failure skips the rest: its index, nothing committed, the session in a failed transaction")
    func failure() async throws {
        let connection = try await TestPostgres.server().connect()
        defer { connection.close() }
        let table = try await Self.table(connection)
        let outcome = try await connection.transaction(
            PGTransactionMode(),
            [
                PGStatement("INSERT INTO \(table) VALUES (1)"), PGStatement("INSERT INTO \(table) VALUES (1)"),
                PGStatement("INSERT INTO \(table) VALUES (2)"),
            ],
            budget: .unlimited,
            then: [PGStatement("DISCARD ALL")]
        )
        #expect(outcome.failure?.index == 1)
        #expect(outcome.failure?.error.sqlState == "23505")
        #expect(!outcome.committed)
        #expect(outcome.results.count == 1)
        #expect(connection.transactionStatus == .inFailedTransaction)
        #expect(outcome.trailing.count == 1)
        #expect((try? outcome.trailing[0].get()) == nil)
        _ = try await connection.query("ROLLBACK")
        #expect(try await connection.query("SELECT count(*)::int FROM \(table)").rows == [[.int(0)]])
    }

    @Test("the budget holds all results together; a later statement streams and is cut short")
    func budget() async throws {
        let connection = try await TestPostgres.server().connect()
        defer { connection.close() }
        let small = try await connection.transaction(
            PGTransactionMode(),
            [PGStatement("SELECT generate_series(1, 3)"), PGStatement("SELECT generate_series(1, 3)")],
            budget: PGResultLimits(maxRows: 5)
        )
        #expect(small.failure?.index == 1)
        #expect(small.failure?.error.kind == .resultTooLarge)
        #expect(small.failure?.error.message.contains("5 rows") == true)
        if connection.transactionStatus != .idle { _ = try await connection.query("ROLLBACK") }

        // The second statement sends 10,000 rows, then sleeps: read whole, its result would come
        // only after the sleep; streamed against the budget, the 11th row passes it and the
        // cancel ends the sleep within moments.
        let started = ContinuousClock.now
        let large = try await connection.transaction(
            PGTransactionMode(),
            [
                PGStatement("SELECT 1"),
                PGStatement("SELECT x::text FROM generate_series(1, 10000) x UNION ALL SELECT pg_sleep(30)::text"),
            ],
            budget: PGResultLimits(maxRows: 10)
        )
        #expect(large.failure?.index == 1)
        #expect(large.failure?.error.kind == .resultTooLarge)
        #expect(ContinuousClock.now - started < .seconds(15))
        if connection.transactionStatus != .idle { _ = try await connection.query("ROLLBACK") }
        #expect(try await connection.query("SELECT 1").rows == [[.int(1)]])
    }

    @Test("a batch runs statement by statement and stops at the first failure; earlier ones keep their effect")
    func batch() async throws {
        let connection = try await TestPostgres.server().connect()
        defer { connection.close() }
        let table = try await Self.table(connection)
        let outcome = try await connection.batch(
            [
                PGStatement("INSERT INTO \(table) VALUES (1)"), PGStatement("INSERT INTO \(table) VALUES (1)"),
                PGStatement("INSERT INTO \(table) VALUES (2)"),
            ],
            budget: .unlimited
        )
        #expect(outcome.failure?.index == 1)
        #expect(outcome.results.count == 1)
        #expect(connection.transactionStatus == .idle)
        #expect(try await connection.query("SELECT array_agg(id)::text FROM \(table)").rows == [[.string("{1}")]])
    }
}
