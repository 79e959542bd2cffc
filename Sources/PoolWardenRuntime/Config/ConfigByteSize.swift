/// Sizes as a config file writes them: a whole number of bytes (`1048576`), or one with a binary
/// unit (`512KiB`, `1MiB`, `64MiB`, `1GiB`). Decimal units (`MB`) are refused rather than guessed.
enum ConfigByteSize {
    private static let units: [(suffix: String, bytes: Int)] = [
        ("kib", 1 << 10), ("mib", 1 << 20), ("gib", 1 << 30), ("b", 1),
    ]

    static func parse(_ text: String) -> Int? {
        let lowered = ConfigText.trimmed(text).lowercased().filter { $0 != "_" }
        let digits = lowered.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let value = Int(digits) else { return nil }
        let suffix = lowered.dropFirst(digits.count).drop { $0 == " " }
        let multiplier: Int
        if suffix.isEmpty {
            multiplier = 1
        } else if let unit = units.first(where: { $0.suffix == String(suffix) }) {
            multiplier = unit.bytes
        } else {
            return nil
        }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : bytes
    }

    static func explanation(for text: String) -> String {
        "\"\(text)\" is not a size; use a number of bytes, or one with KiB, MiB or GiB (e.g. 512KiB, 1MiB)"
    }
}
