import PostgresLibPQ
import TestPostgres
import Testing
@testable import PostgresLibPQ

@Suite("Type names of result columns")
struct PGTypeNamesTests {
    /// Expressions whose types users meet and once saw as `oid:N`: pseudo-types among them.
    static let cases: [(sql: String, type: String)] = [
        ("pg_sleep(0)", "void"),
        ("pg_advisory_unlock_all()", "void"),
        ("ROW(1, 'a')", "record"),
        ("ARRAY[ROW(1)]", "record[]"),
        ("'a'::name", "name"),
        ("now()::time", "time without time zone"),
        ("now()::timetz", "time with time zone"),
        ("'1 day'::interval", "interval"),
        ("'::1'::inet", "inet"),
        ("'10.0.0.0/8'::cidr", "cidr"),
        ("gen_random_uuid()", "uuid"),
        ("'\\x00'::bytea", "bytea"),
        ("ARRAY[1, 2]", "integer[]"),
        ("ARRAY['a']::text[]", "text[]"),
        ("ARRAY[now()]", "timestamp with time zone[]"),
        ("pg_current_wal_lsn()", "pg_lsn"),
        ("pg_current_snapshot()", "pg_snapshot"),
        ("txid_current()", "bigint"),
        ("pg_current_xact_id()", "xid8"),
        ("'(0,1)'::tid", "tid"),
        ("'1'::xid", "xid"),
        ("'1'::cid", "cid"),
        ("'pg_class'::regclass", "regclass"),
        ("(SELECT indkey FROM pg_index LIMIT 1)", "int2vector"),
        ("(SELECT relacl FROM pg_class WHERE relacl IS NOT NULL LIMIT 1)", "aclitem[]"),
        ("'a:1'::tsvector", "tsvector"),
        ("int4range(1, 2)", "int4range"),
        ("'{}'::int8multirange", "int8multirange"),
        ("'$.a'::jsonpath", "jsonpath"),
        ("'08:00:2b:01:02:03'::macaddr", "macaddr"),
        ("1::money", "money"),
        ("B'101'", "bit"),
    ]

    @Test("results name built-in and pseudo-types as format_type does, never as oid:N")
    func commonTypes() async throws {
        let connection = try await TestPostgres.server().connect()
        defer { connection.close() }
        let select = "SELECT " + Self.cases.enumerated().map { "\($1.sql) AS c\($0)" }.joined(separator: ", ")
        let result = try await connection.query(select)
        for (index, testCase) in Self.cases.enumerated() {
            #expect(result.columns[index].typeName == testCase.type, "type of \(testCase.sql)")
        }
    }

    @Test("the table names every type whose OID PostgreSQL fixes, as the server's format_type does")
    func everyBuiltInType() async throws {
        let connection = try await TestPostgres.server().connect()
        defer { connection.close() }
        // Below 10000 are the OIDs PostgreSQL's catalog sources assign; initdb numbers its own after.
        let types = try await connection.query("SELECT oid::int8, format_type(oid, NULL) FROM pg_type WHERE oid < 10000 ORDER BY oid")
        #expect(types.rows.count > 150)
        for row in types.rows {
            guard case .int(let oid) = row[0], case .string(let name) = row[1] else {
                Issue.record("unexpected row \(row)")
                continue
            }
            #expect(PGTypeNames.name(of: UInt32(oid)) == name, "OID \(oid)")
        }
    }
}
