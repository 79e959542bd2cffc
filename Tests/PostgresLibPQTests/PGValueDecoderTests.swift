import Foundation
import PostgresLibPQ
import TestPostgres
import Testing

@Suite("Values decoded for JSON")
struct PGValueDecoderTests {
    /// One expression per case: its SQL, the type name reported, and the JSON value expected.
    static let cases: [(sql: String, type: String, value: JSONValue)] = [
        ("1::int2", "smallint", .int(1)),
        ("'-32768'::int2", "smallint", .int(-32768)),
        ("2147483647::int4", "integer", .int(2_147_483_647)),
        ("9007199254740992::int8", "bigint", .int(9_007_199_254_740_992)),
        ("-9007199254740992::int8", "bigint", .int(-9_007_199_254_740_992)),
        ("9007199254740993::int8", "bigint", .string("9007199254740993")),
        ("'-9223372036854775808'::int8", "bigint", .string("-9223372036854775808")),
        ("0.5::float4", "real", .double(0.5)),
        ("0.1::float8", "double precision", .double(0.1)),
        ("'NaN'::float8", "double precision", .string("NaN")),
        ("'Infinity'::float8", "double precision", .string("Infinity")),
        ("'-Infinity'::float4", "real", .string("-Infinity")),
        ("true", "boolean", .bool(true)),
        ("false", "boolean", .bool(false)),
        ("12345678901234567890.000000001::numeric", "numeric", .string("12345678901234567890.000000001")),
        ("'NaN'::numeric", "numeric", .string("NaN")),
        ("'héllo wörld ✓ 日本語 🐘'::text", "text", .string("héllo wörld ✓ 日本語 🐘")),
        ("'abc'::varchar(10)", "character varying", .string("abc")),
        ("'pg_class'::name", "name", .string("pg_class")),
        ("'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid", "uuid", .string("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
        ("'ab'::char(4)", "character", .string("ab  ")),
        ("'x'::\"char\"", "\"char\"", .string("x")),
        ("'{\"b\": 1, \"a\": [true, null, 2.5, \"s\"]}'::json", "json", .object([("b", .int(1)), ("a", .array([.bool(true), .null, .double(2.5), .string("s")]))])),
        ("'{\"b\": 1, \"aa\": {\"x\": \"\\u00e9\\ud83d\\udc18\"}}'::jsonb", "jsonb", .object([("b", .int(1)), ("aa", .object([("x", .string("é🐘"))]))])),
        ("'[]'::jsonb", "jsonb", .array([])),
        ("'\"just a string\"'::jsonb", "jsonb", .string("just a string")),
        ("'2024-02-29'::date", "date", .string("2024-02-29")),
        ("'13:45:01.5'::time", "time without time zone", .string("13:45:01.5")),
        ("'2024-02-29 13:45:01'::timestamp", "timestamp without time zone", .string("2024-02-29 13:45:01")),
        ("'2024-02-29 13:45:01+00'::timestamptz", "timestamp with time zone", .string("2024-02-29 13:45:01+00")),
        ("'1 day 02:03:04'::interval", "interval", .string("1 day 02:03:04")),
        ("'\\xdeadbeef'::bytea", "bytea", .string("\\xdeadbeef")),
        ("ARRAY[1, 2, NULL]::int4[]", "integer[]", .string("{1,2,NULL}")),
        ("ARRAY['a b', 'c']::text[]", "text[]", .string("{\"a b\",c}")),
        ("'10.1.0.0/16'::inet", "inet", .string("10.1.0.0/16")),
        ("'(1,2)'::point", "point", .string("(1,2)")),
        ("NULL::int4", "integer", .null),
        ("NULL::text", "text", .null),
        ("NULL::jsonb", "jsonb", .null),
    ]

    @Test("every type round-trips to its JSON form")
    func everyType() async throws {
        let connection = try await TestPostgres.server().connect()
        defer { connection.close() }
        _ = try await connection.query("SET TIME ZONE 'UTC'")
        let select = "SELECT " + Self.cases.enumerated().map { "\($1.sql) AS c\($0)" }.joined(separator: ", ")
        let result = try await connection.query(select)
        try #require(result.rows.count == 1)
        for (index, testCase) in Self.cases.enumerated() {
            #expect(result.columns[index].typeName == testCase.type, "type of \(testCase.sql)")
            #expect(result.rows[0][index] == testCase.value, "value of \(testCase.sql)")
        }
    }

    @Test("parameters travel as text, NULL as NULL, unicode intact")
    func parameters() async throws {
        let connection = try await TestPostgres.server().connect()
        defer { connection.close() }
        let result = try await connection.query(
            "SELECT $1::int, $2::text, $3::text IS NULL, $4::jsonb, $5::numeric, $6::bool",
            ["-7", "ünïcödé 🐘 'quoted' \"double\" \\back", nil, "{\"k\": [1, 2]}", "1e-3", "true"]
        )
        #expect(result.rows == [[
            .int(-7), .string("ünïcödé 🐘 'quoted' \"double\" \\back"), .bool(true),
            .object([("k", .array([.int(1), .int(2)]))]), .string("0.001"), .bool(true),
        ]])
    }

    @Test("a 1 MB text goes out as a parameter and comes back whole")
    func megabyteText() async throws {
        let connection = try await TestPostgres.server().connect()
        defer { connection.close() }
        let big = String((0..<(1 << 20)).map { index in Character(Unicode.Scalar(UInt8(97 + index % 26))) })
        let result = try await connection.query("SELECT $1::text, length($1::text)", [big])
        #expect(result.rows[0][1] == .int(1 << 20))
        #expect(result.rows[0][0] == .string(big))
        let generated = try await connection.query("SELECT repeat('é', 600000)")
        guard case .string(let text) = generated.rows[0][0] else {
            Issue.record("not a string")
            return
        }
        #expect(text.count == 600_000)
    }

    @Test("a user-defined type is named by its OID and comes back as text")
    func userType() async throws {
        let server = try await TestPostgres.server()
        let database = try await server.createDatabase()
        let connection = try await server.connect(database: database)
        defer { connection.close() }
        _ = try await connection.query("CREATE TYPE mood AS ENUM ('sad', 'happy')")
        let result = try await connection.query("SELECT 'happy'::mood")
        #expect(result.columns[0].typeName.hasPrefix("oid:"))
        #expect(result.rows == [[.string("happy")]])
    }

    @Test("JSON values encode with Codable as callers read them")
    func encodesAsJSON() throws {
        let value: JSONValue = .array([.int(1), .double(0.5), .string("x"), .null, .bool(false), .object([("z", .int(1)), ("a", .int(2))])])
        let data = try JSONEncoder().encode(value)
        let decoded = try JSONDecoder().decode(JSONValue.self, from: data)
        guard case .array(let items) = decoded else {
            Issue.record("not an array")
            return
        }
        #expect(items.count == 6)
        #expect(items[0] == .int(1))
        #expect(items[1] == .double(0.5))
        #expect(items[5]["a"] == .int(2))
    }
}
