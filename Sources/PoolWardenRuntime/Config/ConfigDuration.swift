/// Durations as a config file writes them: a number with a unit, `200ms`, `5s`, `30m`, `1h`,
/// combinations such as `1m30s`, decimals such as `1.5s`, and `0`. A bare number other than `0` is
/// refused: `5000` could mean milliseconds or seconds, and a wrong guess is a silent misconfiguration.
public enum ConfigDuration {
    /// The duration `text` denotes, or nil when it is not one (see ``ConfigDuration``).
    public static func parse(_ text: String) -> Duration? {
        if case .duration(let duration) = read(text) { return duration }
        return nil
    }

    /// The shortest text ``parse(_:)`` reads back as `duration`, e.g. `1m30s`, `250ms`, `0s`.
    public static func format(_ duration: Duration) -> String {
        let nanoseconds = duration.totalNanoseconds
        guard nanoseconds != 0 else { return "0s" }
        var rest = nanoseconds.magnitude
        var text = nanoseconds < 0 ? "-" : ""
        for (unit, size) in [("h", UInt128(3_600_000_000_000)), ("m", 60_000_000_000), ("s", 1_000_000_000)] where rest >= size {
            text += "\(rest / size)\(unit)"
            rest %= size
        }
        if rest > 0 {
            let whole = rest / 1_000_000
            let fraction = rest % 1_000_000
            text += "\(whole)"
            if fraction > 0 {
                var digits = String(fraction)
                digits = String(repeating: "0", count: 6 - digits.count) + digits
                while digits.last == "0" { digits.removeLast() }
                text += ".\(digits)"
            }
            text += "ms"
        }
        return text
    }

    /// Why `text` is not a duration, phrased to follow a field path. `allowsOff` adds `off` to the
    /// suggestions, for settings that can be turned off.
    static func explanation(for text: String, allowsOff: Bool) -> String {
        switch read(text) {
        case .bareNumber:
            return "\"\(text)\" has no unit, and a bare number is ambiguous; write e.g. \(text)ms or \(text)s"
        case .tooLarge:
            return "\"\(text)\" is too large for a duration"
        case .malformed, .duration:
            let off = allowsOff ? ", or off" : ""
            return "\"\(text)\" is not a duration; use a number with ms, s, m or h (e.g. 200ms, 5s, 30m)\(off)"
        }
    }

    private enum Reading {
        case duration(Duration)
        case bareNumber
        case tooLarge
        case malformed
    }

    private static let units: [(suffix: [UInt8], nanoseconds: Int128)] = [
        (Array("ms".utf8), 1_000_000),
        (Array("s".utf8), 1_000_000_000),
        (Array("m".utf8), 60_000_000_000),
        (Array("h".utf8), 3_600_000_000_000),
    ]

    private static func read(_ text: String) -> Reading {
        let bytes = Array(ConfigText.trimmed(text).lowercased().utf8)
        guard !bytes.isEmpty else { return .malformed }
        if bytes == Array("0".utf8) { return .duration(.zero) }
        if bytes.contains(where: ConfigText.isDigit),
           bytes.allSatisfy({ ConfigText.isDigit($0) || $0 == UInt8(ascii: ".") }) {
            return .bareNumber
        }

        var total: Int128 = 0
        var index = 0
        while index < bytes.count {
            var whole: Int128 = 0
            var wholeDigits = 0
            while index < bytes.count, ConfigText.isDigit(bytes[index]) {
                whole = whole * 10 + Int128(bytes[index] - UInt8(ascii: "0"))
                wholeDigits += 1
                index += 1
                if wholeDigits > 20 { return .tooLarge }
            }
            guard wholeDigits > 0 else { return .malformed }
            var fraction: Int128 = 0
            var fractionScale: Int128 = 1
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                var fractionDigits = 0
                while index < bytes.count, ConfigText.isDigit(bytes[index]) {
                    // Beyond nanoseconds the digits cannot change the result.
                    if fractionDigits < 9 {
                        fraction = fraction * 10 + Int128(bytes[index] - UInt8(ascii: "0"))
                        fractionScale *= 10
                    }
                    fractionDigits += 1
                    index += 1
                }
                guard fractionDigits > 0 else { return .malformed }
            }
            guard let unit = units.first(where: { bytes[index...].starts(with: $0.suffix) }) else { return .malformed }
            index += unit.suffix.count
            total += whole * unit.nanoseconds + fraction * unit.nanoseconds / fractionScale
            if total > Int128(Int64.max) { return .tooLarge }
        }
        return .duration(.nanoseconds(Int64(total)))
    }
}

extension Duration {
    fileprivate var totalNanoseconds: Int128 {
        let (seconds, attoseconds) = components
        return Int128(seconds) * 1_000_000_000 + Int128(attoseconds / 1_000_000_000)
    }
}
