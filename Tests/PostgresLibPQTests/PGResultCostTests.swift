import PostgresLibPQ
import TestPostgres
import Testing

@Suite("Result limits count what a result costs in memory")
struct PGResultCostTests {
    @Test("NULL and empty values count their slot, not zero")
    func nullAndEmptyValuesCount() async throws {
        let connection = try await TestPostgres.server().connect()
        defer { connection.close() }
        // 20,000 values: nothing on the wire, 480 KB held as values, about 70 KB more for the rows.
        let columns = (0..<20).map { "NULL AS n\($0)" } + (0..<20).map { "'' AS e\($0)" }
        for expression in [columns[0..<20], columns[20..<40]] {
            let sql = "SELECT \(expression.joined(separator: ", ")) FROM generate_series(1, 1000)"
            let error = try await #require(throws: PGError.self) {
                try await connection.query(sql, limits: PGResultLimits(maxBytes: 400_000))
            }
            #expect(error.kind == .resultTooLarge, "\(sql)")
            #expect(error.connectionUsable)
            let fits = try await connection.query(sql, limits: PGResultLimits(maxBytes: 600_000))
            #expect(fits.rows.count == 1000)
        }
        #expect(try await connection.query("SELECT 1", limits: PGResultLimits(maxBytes: 1000)).rows == [[.int(1)]])
    }

    @Test("rows cost even without columns, columns cost even without rows")
    func rowsAndColumnsCount() async throws {
        let connection = try await TestPostgres.server().connect()
        defer { connection.close() }
        let rows = try await #require(throws: PGError.self) {
            try await connection.query("SELECT FROM generate_series(1, 10000)", limits: PGResultLimits(maxBytes: 100_000))
        }
        #expect(rows.kind == .resultTooLarge)
        let wide = (0..<1000).map { "1 AS a_rather_long_column_name_\($0)" }.joined(separator: ", ")
        let columns = try await #require(throws: PGError.self) {
            try await connection.query("SELECT \(wide) WHERE false", limits: PGResultLimits(maxBytes: 50_000))
        }
        #expect(columns.kind == .resultTooLarge)
        #expect(try await connection.query("SELECT FROM generate_series(1, 100)", limits: PGResultLimits(maxBytes: 100_000)).rowCount == 100)
    }

    @Test("JSON counts as the tree it parses into, not as its shorter text")
    func jsonTreesCount() async throws {
        let connection = try await TestPostgres.server().connect()
        defer { connection.close() }
        // About 300 KB of text; 100,000 elements of 24 bytes each once parsed.
        let sql = "SELECT jsonb_agg(0) FROM generate_series(1, 100000)"
        let error = try await #require(throws: PGError.self) {
            try await connection.query(sql, limits: PGResultLimits(maxBytes: 1_000_000))
        }
        #expect(error.kind == .resultTooLarge)
        let fits = try await connection.query(sql, limits: PGResultLimits(maxBytes: 3_000_000))
        #expect(fits.rows.count == 1)
    }
}
