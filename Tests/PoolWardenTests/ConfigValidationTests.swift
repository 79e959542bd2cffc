import Testing

@testable import PoolWardenHTTP
@testable import PoolWardenRuntime

@Suite("Config validation: every problem names its field")
struct ConfigValidationTests {
    static let keys = ["OPS_KEY": "ops-secret-key-0123456789", "CI_KEY": "ci-secret-key-0123456789", "EMPTY": ""]

    @Test("max_per_caller above max")
    func maxPerCaller() {
        #expect(ConfigTests.messages("""
            pools:
              - { name: a, conninfo: dbname=a }
              - { name: b, conninfo: dbname=b, max: 20, max_per_caller: 25 }
              - { name: c, conninfo: dbname=c, max_per_caller: 0 }
            """) == [
            "pools[1].max_per_caller: must be between 1 and max (20), got 25",
            "pools[2].max_per_caller: must be between 1 and max (10), got 0",
        ])
    }

    @Test("max_waiting between 1 and 100000, in the words of POST and PATCH")
    func maxWaiting() {
        #expect(ConfigTests.messages("""
            pools:
              - { name: a, conninfo: dbname=a, max_waiting: 1 }
              - { name: b, conninfo: dbname=b, max_waiting: 0 }
              - { name: c, conninfo: dbname=c, max_waiting: 100001 }
              - { name: d, conninfo: dbname=d, maxQueue: 5 }
            """) == [
            "pools[1].max_waiting: must be between 1 and 100000, got 0",
            "pools[2].max_waiting: must be between 1 and 100000, got 100001",
            "pools[3].maxQueue: unknown key; did you mean max_waiting?",
        ])
    }

    @Test("reset takes discard_all or none, nothing else")
    func resetMode() {
        #expect(ConfigTests.messages("""
            pools:
              - { name: a, conninfo: dbname=a, reset: none }
              - { name: b, conninfo: dbname=b, reset: discard_all }
              - { name: c, conninfo: dbname=c, reset: rollback }
            """) == [
            "pools[2].reset: \"rollback\" is not a reset mode; use discard_all (the default) or none",
        ])
    }

    @Test("min, max and their relation")
    func minMax() {
        #expect(ConfigTests.messages("""
            pools:
              - { name: a, conninfo: dbname=a, min: 5, max: 3 }
              - { name: b, conninfo: dbname=b, max: 0 }
              - { name: c, conninfo: dbname=c, min: -1 }
              - { name: d, conninfo: dbname=d, min: 11 }
              - { name: e, conninfo: dbname=e, max: twenty }
              - { name: f, conninfo: dbname=f, max: 2.5 }
            """) == [
            "pools[0].min: min (5) must not be greater than max (3)",
            "pools[1].max: must be between 1 and 10000, got 0",
            "pools[2].min: must be between 0 and 10000, got -1",
            "pools[3].min: min (11) must not be greater than max (10)",
            "pools[4].max: must be a whole number, got \"twenty\"",
            "pools[5].max: must be a whole number, got \"2.5\"",
        ])
    }

    @Test("unknown keys are errors, with a did-you-mean when one is close")
    func unknownKeys() {
        #expect(ConfigTests.messages("""
            listen: { host: 127.0.0.1, prot: 8080 }
            loglevel: info
            pools:
              - name: a
                conninfo: dbname=a
                max_size: 5
                maxPerCaller: 2
                lease_tll: 5s
                dsn: x
                password: hunter2
                colour: blue
                connect_retry: { retries: 3 }
            """) == [
            "listen.prot: unknown key; did you mean port?",
            "loglevel: unknown key; did you mean log_level?",
            "pools[0].max_size: unknown key; did you mean max?",
            "pools[0].maxPerCaller: unknown key; did you mean max_per_caller?",
            "pools[0].lease_tll: unknown key; did you mean lease_ttl?",
            "pools[0].dsn: unknown key; did you mean conninfo?",
            "pools[0].password: unknown key; a password does not go in the config file; put it in an environment "
                + "variable and name that in password_env",
            "pools[0].colour: unknown key; expected one of " + ConfigDecoder.poolKeys.joined(separator: ", "),
            "pools[0].connect_retry.retries: unknown key; did you mean attempts?",
        ])
    }

    @Test("an unknown key's value is never repeated")
    func unknownKeyValueHidden() {
        let text = ConfigTests.messages("""
            pools:
              - { name: a, conninfo: dbname=a, password: hunter2 }
            callers:
              - { name: x, role: admin, key: sup3r-s3cret }
            """).joined(separator: "\n")
        #expect(!text.contains("hunter2"))
        #expect(!text.contains("sup3r-s3cret"))
        #expect(text.contains("callers[0].key: unknown key; a key does not go in the config file"))
    }

    @Test("pool names: required, pattern, unique")
    func poolNames() {
        #expect(ConfigTests.messages("""
            pools:
              - { name: billing, conninfo: dbname=a }
              - { name: billing, conninfo: dbname=b }
              - { name: .hidden, conninfo: dbname=c }
              - { name: "with space", conninfo: dbname=d }
              - { name: \(String(repeating: "x", count: 64)), conninfo: dbname=e }
              - { conninfo: dbname=f }
              - { name: "", conninfo: dbname=g }
              - { name: ok_name-1.2, conninfo: dbname=h }
              - { name: \(String(repeating: "y", count: 63)), conninfo: dbname=i }
            """) == [
            "pools[1].name: duplicate pool name billing (also pools[0])",
            "pools[2].name: \".hidden\" is not a valid pool name; use 1 to 63 letters, digits, _, . or -, not starting with . or -",
            "pools[3].name: \"with space\" is not a valid pool name; use 1 to 63 letters, digits, _, . or -, not starting with . or -",
            "pools[4].name: \"\(String(repeating: "x", count: 64))\" is not a valid pool name; use 1 to 63 letters, digits, _, . "
                + "or -, not starting with . or -",
            "pools[5].name: required key is missing",
            "pools[6].name: must not be empty",
        ])
    }

    @Test("conninfo is parsed by libpq, and its message is redacted")
    func conninfo() {
        let messages = ConfigTests.messages("""
            pools:
              - { name: a, conninfo: "host=db1 port" }
              - { name: b, conninfo: "password=hunter2 host" }
              - { name: c, conninfo: "postgresql://app:hunter2@db1:notaport/x?sslmode=bogus&x=1" }
              - { name: d }
            """)
        #expect(messages.count == 4)
        #expect(messages[0].hasPrefix("pools[0].conninfo: not a valid libpq conninfo or URI: "))
        #expect(messages[1].hasPrefix("pools[1].conninfo: not a valid libpq conninfo or URI: "))
        #expect(messages[2].hasPrefix("pools[2].conninfo: not a valid libpq conninfo or URI: "))
        #expect(messages[3] == "pools[3].conninfo: required key is missing")
        #expect(!messages.joined().contains("hunter2"))
    }

    @Test("password_env: the variable must exist and be non-empty")
    func passwordEnv() {
        #expect(ConfigTests.messages("""
            pools:
              - { name: a, conninfo: dbname=a, password_env: BILLING_PG_PASSWORD }
              - { name: b, conninfo: dbname=b, password_env: EMPTY }
              - { name: c, conninfo: dbname=c, password_env: "hunter2 is my password" }
              - { name: d, conninfo: dbname=d, password_env: }
            """, environment: Self.keys) == [
            "pools[0].password_env: environment variable BILLING_PG_PASSWORD is not set",
            "pools[1].password_env: environment variable EMPTY is empty",
            "pools[2].password_env: must be the name of an environment variable (letters, digits and _), not the secret itself",
            "pools[3].password_env: has no value; write a string or leave the key out",
        ])
    }

    @Test("callers need a key from key_env or key_sha256, their own, and a well-formed digest")
    func callerKeys() {
        #expect(ConfigTests.messages("""
            callers:
              - { name: a, role: admin, key_env: OPS_KEY }
              - { name: b, role: client, key_env: CI_KEY }
              - { name: c, role: client }
              - { name: d, role: client, key_env: CI_KEY, key_sha256: \(String(repeating: "ab", count: 32)) }
              - { name: e, role: client, key_env: MISSING_KEY }
              - { name: f, role: client, key_sha256: not-a-digest-but-a-key }
              - { name: g, role: client, key_sha256: \(String(repeating: "g", count: 64)) }
              - { name: h, role: client, key_env: EMPTY }
            """, environment: Self.keys) == [
            "callers[2]: needs a key: key_env or key_sha256 (either may list several keys, to rotate one), or a client certificate's cert_subject",
            "callers[3]: has the same key as callers[1] (b); every caller needs its own key",
            "callers[4].key_env: environment variable MISSING_KEY is not set",
            "callers[5].key_sha256: must be a SHA-256 digest written as 64 hexadecimal characters (e.g. the output of "
                + "`printf %s \"$KEY\" | sha256sum`), got 22 characters",
            "callers[6].key_sha256: must be a SHA-256 digest written as 64 hexadecimal characters (e.g. the output of "
                + "`printf %s \"$KEY\" | sha256sum`), got 64 characters",
            "callers[7].key_env: environment variable EMPTY is empty",
        ])
    }

    @Test("key lists (a key rotated): every element checked and named by its index, none twice, none another caller's")
    func callerKeyLists() throws {
        let environment = Self.keys.merging(["NEW_KEY": "new-key-0123456789", "OLD_KEY": "old-key-0123456789", "K2": "key-2"]) { $1 }
        let third = String(repeating: "ab", count: 32)
        #expect(ConfigTests.messages("""
            callers:
              - { name: r, role: client, key_env: [NEW_KEY, OLD_KEY], key_sha256: [\(third)] }
              - { name: s, role: client, key_env: [] }
              - { name: t, role: client, key_env: [K2, ~, MISSING_KEY] }
              - { name: u, role: client, key_env: [K2, K2] }
              - { name: v, role: client, key_sha256: [\(String(repeating: "cd", count: 32)), zz] }
              - { name: w, role: client, key_env: [K2, OLD_KEY] }
              - { name: x, role: client, key_env: [not a variable name] }
              - { name: y, role: client, key_env: [MISSING_KEY] }
              - { name: z, role: client, key_env: { a: b } }
            """, environment: environment) == [
            "callers[1].key_env: lists no key; give an environment variable name, or a list of them",
            "callers[2].key_env[1]: must be an environment variable name",
            "callers[3]: key_env[1] is the same key as key_env[0]",
            "callers[4].key_sha256[1]: must be a SHA-256 digest written as 64 hexadecimal characters (e.g. the output of "
                + "`printf %s \"$KEY\" | sha256sum`), got 2 characters",
            "callers[5]: has the same key as callers[0] (r); every caller needs its own key",
            "callers[6].key_env[0]: must be the name of an environment variable (letters, digits and _), not the secret itself",
            "callers[7].key_env[0]: environment variable MISSING_KEY is not set",
            "callers[8].key_env: must be a string, not a mapping",
        ])
        let loaded = try ConfigLoader(environment: environment).load(yaml: """
            callers:
              - { name: r, role: client, key_env: [NEW_KEY, OLD_KEY], key_sha256: [\(third)] }
              - { name: s, role: admin, key_env: K2 }
            """)
        #expect(loaded.callers.map { $0.keys.map(\.label) } == [["key_env[0]", "key_env[1]", "key_sha256[0]"], ["key_env[0]"]])
        #expect(loaded.callers[0].keys.map(\.digest) == [
            KeyDigest(hashing: "new-key-0123456789"), KeyDigest(hashing: "old-key-0123456789"), KeyDigest(hex: third)!,
        ])
        #expect(loaded.callers[0].keys.map(\.source) == [.environment("NEW_KEY"), .environment("OLD_KEY"), .digest])
    }

    @Test("caller names, roles, pool grants and shared keys")
    func callers() {
        #expect(ConfigTests.messages("""
            pools:
              - { name: billing, conninfo: dbname=billing }
            callers:
              - { name: ops, role: admin, key_env: OPS_KEY }
              - { name: ops, role: client, key_env: K1 }
              - { name: ci, role: root, key_env: K2 }
              - { name: ci2, role: client, key_env: K3, pools: [billng, billing] }
              - { name: ci3, role: admin, key_sha256: \(String(repeating: "0", count: 64)), pools: [billing] }
              - { name: ci4, role: client, key_sha256: \(String(repeating: "1", count: 64)), pools: billing }
              - { name: "bad name", role: client, key_sha256: \(String(repeating: "2", count: 64)) }
              - { role: client, key_sha256: \(String(repeating: "3", count: 64)) }
              - { name: ci5, key_sha256: \(String(repeating: "4", count: 64)) }
              - { name: ci6, role: client, key_env: OPS_KEY }
            """, environment: Self.keys.merging(["K1": "key-1", "K2": "key-2", "K3": "key-3"]) { $1 }) == [
            "callers[1].name: duplicate caller name ops (also callers[0])",
            "callers[2].role: must be admin or client, got \"root\"",
            "callers[3].pools[0]: no pool named billng in pools; did you mean billing?",
            "callers[4].pools: an admin may use every pool; remove pools, or make the role client",
            "callers[5].pools: must be a list of pool names",
            "callers[6].name: \"bad name\" is not a valid caller name; use 1 to 63 letters, digits, _, . or -, not starting with . or -",
            "callers[7].name: required key is missing",
            "callers[8].role: required key is missing",
            "callers[9]: has the same key as callers[0] (ops); every caller needs its own key",
        ])
    }

    @Test("servers need a host and a max_connections of at least 1, once per host and port")
    func servers() {
        #expect(ConfigTests.messages("""
            servers:
              - { host: db1, max_connections: 40 }
              - { host: db1, port: 5432, max_connections: 10 }
              - { host: db2, max_connections: 0 }
              - { port: 5432, max_connections: 5 }
              - { host: db3, port: 99999, max_connections: 5 }
              - { host: db4 }
            """) == [
            "servers[1]: duplicate server db1:5432 (also servers[0]); one budget per server",
            "servers[2].max_connections: must be between 1 and 1000000, got 0",
            "servers[3].host: required key is missing",
            "servers[4].port: must be between 1 and 65535, got 99999",
            "servers[5].max_connections: required key is missing",
        ])
    }

    @Test("connect_retry: ranges and base_delay not above max_delay")
    func connectRetry() {
        #expect(ConfigTests.messages("""
            pools:
              - { name: a, conninfo: dbname=a, connect_retry: { attempts: 0, base_delay: 200ms, max_delay: 5s } }
              - { name: b, conninfo: dbname=b, connect_retry: { base_delay: 10s, max_delay: 5s } }
              - { name: c, conninfo: dbname=c, connect_retry: 5 }
            """) == [
            "pools[0].connect_retry.attempts: must be between 1 and 100, got 0",
            "pools[1].connect_retry.base_delay: base_delay (10s) must not be greater than max_delay (5s)",
            "pools[2].connect_retry: must be a mapping of keys to values (attempts, base_delay, max_delay)",
        ])
    }

    @Test("statement_timeout may not exceed max_statement_timeout")
    func statementTimeouts() {
        #expect(ConfigTests.messages("""
            pools:
              - { name: a, conninfo: dbname=a, statement_timeout: 20m, max_statement_timeout: 10m }
              - { name: b, conninfo: dbname=b, max_statement_timeout: 10s }
              - { name: c, conninfo: dbname=c, statement_timeout: off, max_statement_timeout: 10s }
            """) == [
            "pools[0].statement_timeout: must not exceed max_statement_timeout (10m), got 20m",
            "pools[1].max_statement_timeout: must be at least statement_timeout (30s, its default), got 10s",
        ])
    }

    @Test("other typed values: booleans, sizes, log level, strings")
    func typedValues() {
        #expect(ConfigTests.messages("""
            max_body_bytes: 1MB
            log_level: warn
            pools:
              - { name: a, conninfo: dbname=a, application_name_tagging: maybe, max_result_bytes: 0, max_result_rows: 0 }
              - { name: b, conninfo: [dbname=b] }
            """) == [
            "max_body_bytes: \"1MB\" is not a size; use a number of bytes, or one with KiB, MiB or GiB (e.g. 512KiB, 1MiB)",
            "log_level: must be one of trace, debug, info, notice, warning, error, critical, got \"warn\"; did you mean warning?",
            "pools[0].application_name_tagging: must be true or false, got \"maybe\"",
            "pools[0].max_result_rows: must be between 1 and 100000000, got 0",
            "pools[0].max_result_bytes: must be between 1 and 17179869184 bytes, got 0",
            "pools[1].conninfo: must be a string, not a list",
        ])
    }

    @Test("sections of the wrong shape")
    func shapes() {
        #expect(ConfigTests.messages("""
            listen: 127.0.0.1:8080
            pools: billing
            callers:
              - ops
            """) == [
            "listen: must be a mapping of keys to values (host, port, request_timeout, max_connections, tls)",
            "pools: must be a list of pools",
            "callers[0]: must be a mapping of keys to values (name, role, key_env, key_sha256, cert_subject, pools)",
        ])
        #expect(ConfigTests.messages("""
            pools: { name: billing }
            callers:
              - { name: ci, role: client, key_sha256: \(String(repeating: "ab", count: 32)), pools: [billing] }
            """) == ["pools: must be a list of pools"])
        #expect(ConfigTests.messages("- just\n- a list\n") == [
            "must be a mapping of keys to values (listen, callers, pools, servers, shutdown_grace, max_body_bytes, log_level, cluster)",
        ])
    }

    @Test("every problem is reported at once, in file order, one per line")
    func allTogether() throws {
        let yaml = """
            listen: { host: 127.0.0.1, port: 0 }
            callers:
              - { name: ops, role: admin, key_env: OPS_KEY }
              - { name: ci, role: client }
            pools:
              - name: billing
                conninfo: "host=db1 dbname=billing"
                max: 20
                max_per_caller: 25
                lease_ttl: 5x
                max_size: 3
            """
        var thrown: ConfigError?
        do throws(ConfigError) {
            _ = try ConfigLoader(environment: Self.keys).load(yaml: yaml)
        } catch {
            thrown = error
        }
        let error = try #require(thrown)
        #expect(error.problems.map(\.line) == [1, 4, 9, 10, 11])
        #expect(error.description.split(separator: "\n").map(String.init) == [
            "listen.port: must be between 1 and 65535, got 0 (line 1, column 34)",
            "callers[1]: needs a key: key_env or key_sha256 (either may list several keys, to rotate one), or a client certificate's cert_subject (line 4, column 5)",
            "pools[0].max_per_caller: must be between 1 and max (20), got 25 (line 9, column 21)",
            "pools[0].lease_ttl: \"5x\" is not a duration; use a number with ms, s, m or h (e.g. 200ms, 5s, 30m) (line 10, column 16)",
            "pools[0].max_size: unknown key; did you mean max?",
        ].enumerated().map { index, line in index == 4 ? line + " (line 11, column 5)" : line })
    }

    @Test("a YAML syntax error reports its line and column")
    func syntaxError() {
        let problems = ConfigTests.problems("""
            listen: { host: 127.0.0.1, port: 8080 }
            pools:
              - name: billing
               conninfo: dbname=billing
            """)
        #expect(problems.count == 1)
        #expect(problems.first?.line == 4)
        #expect(problems.first?.column != nil)
        #expect(problems.first?.description.hasPrefix("not valid YAML: ") == true)
        #expect(problems.first?.description.contains("(line 4, column") == true)

        let unclosed = ConfigTests.problems("listen: { host: 127.0.0.1, port: 8080\n")
        #expect(unclosed.count == 1)
        #expect(unclosed.first?.line != nil)
    }

    @Test("a syntax error does not quote the line, which may hold a password")
    func syntaxErrorHidesLine() {
        let text = ConfigTests.problems("""
            pools:
              - { name: a, conninfo: "password=hunter2 host=db1" ] }
            """).map(\.description).joined()
        #expect(!text.isEmpty)
        #expect(!text.contains("hunter2"))
    }

    @Test("a key written twice in one mapping is reported with its line")
    func duplicateYAMLKey() {
        let problems = ConfigTests.problems("""
            pools:
              - name: a
                conninfo: dbname=a
                max: 4
                max: 5
            """)
        #expect(problems.map(\.message) == ["duplicate key max in one mapping; each key may appear once"])
        #expect(problems.first?.line == 4)
    }

    @Test("the wrong file is refused without echoing its lines")
    func wrongFile() {
        let shadowLike = ConfigTests.problems("""
            root:$6$salt$hashhashhash:20228:0:99999:7:::
            daemon:*:20228:0:99999:7:::
            """)
        #expect(shadowLike.count == 2)
        #expect(shadowLike.allSatisfy { $0.message == "unknown key that is not a plain name (not shown); is this the right file?" })
        #expect(!shadowLike.map(\.description).joined().contains("hashhash"))

        let dotenv = ConfigTests.messages("DATABASE_PASSWORD=hunter2\n")
        #expect(dotenv == [
            "must be a mapping of keys to values (listen, callers, pools, servers, shutdown_grace, max_body_bytes, log_level, cluster)",
        ])
    }

    @Test("more than one YAML document is refused")
    func severalDocuments() {
        #expect(ConfigTests.messages("listen: { port: 8080 }\n---\nlisten: { port: 8081 }\n") == [
            "not valid YAML here: the file holds more than one document (---)",
        ])
    }

    @Test("a long list of problems is summed up after the first hundred, and all are kept")
    func manyProblems() {
        let yaml = "pools:\n" + (0..<150).map { "  - { name: p\($0), conninfo: dbname=x, max: 0 }" }.joined(separator: "\n")
        let error = ConfigError(problems: ConfigTests.problems(yaml))
        #expect(error.problems.count == 150)
        let lines = error.description.split(separator: "\n")
        #expect(lines.count == 101)
        #expect(lines.last == "... and 50 more problems")
    }
}
