import Testing

@testable import PoolWardenHTTP
@testable import PoolWardenRuntime

@Suite("Config durations")
struct ConfigDurationTests {
    @Test("every accepted form", arguments: [
        ("200ms", Duration.milliseconds(200)),
        ("5s", .seconds(5)),
        ("30m", .seconds(30 * 60)),
        ("1h", .seconds(3600)),
        ("1m30s", .seconds(90)),
        ("1h30m15s", .seconds(5415)),
        ("2s500ms", .milliseconds(2500)),
        ("1.5s", .milliseconds(1500)),
        ("0.25h", .seconds(900)),
        ("0", .zero),
        ("0s", .zero),
        ("0ms", .zero),
        ("10S", .seconds(10)),
        (" 5s ", .seconds(5)),
    ])
    func accepted(text: String, expected: Duration) {
        #expect(ConfigDuration.parse(text) == expected)
    }

    @Test("refused forms", arguments: ["5x", "", "s", "ms", "-5s", "5 s", "1.s", ".5s", "5sec", "1d", "5s5", "1:30", "five"])
    func refused(text: String) {
        #expect(ConfigDuration.parse(text) == nil)
    }

    @Test("a bare number is refused, and the explanation says the unit is missing", arguments: ["5", "5000", "1.5"])
    func bareNumbers(text: String) {
        #expect(ConfigDuration.parse(text) == nil)
        let explanation = ConfigDuration.explanation(for: text, allowsOff: false)
        #expect(explanation == "\"\(text)\" has no unit, and a bare number is ambiguous; write e.g. \(text)ms or \(text)s")
    }

    @Test("a huge duration is refused as too large")
    func tooLarge() {
        #expect(ConfigDuration.parse("99999999999999999999h") == nil)
        #expect(ConfigDuration.parse("999999999999h") == nil)
        #expect(ConfigDuration.explanation(for: "999999999999h", allowsOff: false) == "\"999999999999h\" is too large for a duration")
    }

    @Test("format gives the shortest text that parses back", arguments: [
        (Duration.zero, "0s"),
        (.milliseconds(200), "200ms"),
        (.seconds(5), "5s"),
        (.seconds(90), "1m30s"),
        (.seconds(3600), "1h"),
        (.milliseconds(3_723_004), "1h2m3s4ms"),
        (.microseconds(1500), "1.5ms"),
    ])
    func format(duration: Duration, text: String) {
        #expect(ConfigDuration.format(duration) == text)
        #expect(ConfigDuration.parse(text) == duration)
    }

    @Test("a bad duration in a file names the field and shows the accepted forms")
    func inFile() {
        let problems = ConfigTests.problems("""
            pools:
              - name: billing
                conninfo: dbname=billing
                lease_ttl: 5x
                borrow_timeout: 5000
                idle_timeout: never
            """)
        #expect(problems.map(\.description) == [
            "pools[0].lease_ttl: \"5x\" is not a duration; use a number with ms, s, m or h (e.g. 200ms, 5s, 30m) (line 4, column 16)",
            "pools[0].borrow_timeout: \"5000\" has no unit, and a bare number is ambiguous; write e.g. 5000ms or 5000s (line 5, column 21)",
            "pools[0].idle_timeout: \"never\" is not a duration; use a number with ms, s, m or h (e.g. 200ms, 5s, 30m), or off (line 6, column 19)",
        ])
    }

    @Test("durations outside their range name the bounds")
    func ranges() {
        #expect(ConfigTests.messages("""
            shutdown_grace: 2h
            pools:
              - { name: p, conninfo: dbname=p, lease_ttl: 0, borrow_timeout: 10m, max_lifetime: 8d }
            """) == [
            "shutdown_grace: must be between 0s and 1h, got 2h",
            "pools[0].lease_ttl: must be between 1ms and 24h, got 0s",
            "pools[0].borrow_timeout: must be between 0s and 5m, got 10m",
            "pools[0].max_lifetime: \"8d\" is not a duration; use a number with ms, s, m or h (e.g. 200ms, 5s, 30m), or off",
        ])
    }

    @Test("off is only for settings that can be turned off")
    func offOnlyWhereAllowed() {
        #expect(ConfigTests.messages("""
            pools:
              - { name: p, conninfo: dbname=p, lease_ttl: off }
            """) == [
            "pools[0].lease_ttl: \"off\" is not a duration; use a number with ms, s, m or h (e.g. 200ms, 5s, 30m)",
        ])
    }
}
