@testable import PoolWardenHTTP
@testable import PoolWardenRuntime
import Testing

/// The request-body gate: everything RFC 8259 allows passes (a client's valid JSON is never
/// refused), and what the lenient decoder would have taken but the RFC does not is a 400.
@Suite("StrictJSON: RFC 8259 request bodies")
struct StrictJSONTests {
    static func accepted(_ text: String) -> Bool {
        accepted(Array(text.utf8))
    }

    static func accepted(_ bytes: [UInt8]) -> Bool {
        do throws(WardenError) {
            try StrictJSON.validate(bytes)
            return true
        } catch {
            #expect(error.code == "invalid_request")
            return false
        }
    }

    @Test("valid documents pass", arguments: [
        #"{}"#, #"[]"#, #" { "a" : [ 1 , -0 , 0.5 , -12.5e+3 , 1E-2 , true , false , null ] } "#,
        #"{"sql": "SELECT $1", "params": ["x", 1, 2.5, true, null], "timeout_ms": 1000}"#,
        #"{"s": "\" \\ \/ \b \f \n \r \t \u0041 \u00e9 \ud83d\ude00 \u0000"}"#,
        "{\"s\": \"héllo wörld 😀\"}", #""text""#, "5", "null",
        #"{"a": {"b": {"c": [[[[]]]]}}}"#, #"{"a": 1, "A": 2, "a ": 3}"#,
    ])
    func valid(_ text: String) {
        #expect(Self.accepted(text), "\(text)")
    }

    @Test("malformed documents fail", arguments: [
        "", " ", "{", "}", #"{"a": 1,}"#, "[1,]", "[,1]", #"{"a" 1}"#, #"{a: 1}"#, #"{'a': 1}"#,
        #"{"a": 1}{}"#, #"{"a": 1} x"#, "NaN", "Infinity", "-", "01", "1.", ".5", "1e", "+1", "0x10",
        "tru", "nul", #"{"a": undefined}"#, #""\x41""#, #""\u12""#, #""\ud83d""#, #""\ude00""#,
        #""\ud83d\u0041""#, "\"tab\there\"", "\"line\nbreak\"", #"{"a": 1, "a": 2}"#,
        #"{"mode": "graceful", "mode": "immediate"}"#, #"{"a": 1, "\u0061": 2}"#, #"{"x": {"a": 1, "a": 1}}"#,
        "// comment\n{}", "{/* c */}",
    ])
    func malformed(_ text: String) {
        #expect(!Self.accepted(text), "\(text)")
    }

    @Test("invalid UTF-8, raw NUL and nesting past 32 levels fail; 32 levels pass")
    func bytesAndDepth() {
        for bytes: [UInt8] in [[0x80], [0xC3, 0x28], [0xFF], [0xED, 0xA0, 0x80], [0xC0, 0xAF], [0xF4, 0x90, 0x80, 0x80]] {
            #expect(!Self.accepted([0x22] + bytes + [0x22]), "\(bytes)")
        }
        #expect(!Self.accepted(Array(#"{"sql": "SELECT 1"#.utf8) + [0] + Array(#""}"#.utf8)))
        let deepest = String(repeating: "[", count: StrictJSON.maxDepth) + String(repeating: "]", count: StrictJSON.maxDepth)
        #expect(Self.accepted(deepest))
        #expect(!Self.accepted("[" + deepest + "]"))
        #expect(!Self.accepted(String(repeating: #"{"a":"#, count: 10_000) + "1" + String(repeating: "}", count: 10_000)))
    }
}
