import Yams

extension MappingReader {
    /// The scalar text of `key`; logs a problem for a null, a list or a mapping.
    func scalar(_ key: String, expecting: String) -> (text: String, node: Node)? {
        guard let node = value(key) else { return nil }
        guard let scalar = node.scalar else {
            log.add(field(key), "must be \(expecting), not a \(node.mapping != nil ? "mapping" : "list")", at: node)
            return nil
        }
        if MappingReader.isNull(node) {
            log.add(field(key), "has no value; write \(expecting) or leave the key out", at: node)
            return nil
        }
        return (scalar.string, node)
    }

    func string(_ key: String, required: Bool = false) -> FieldValue<String> {
        guard contains(key) else {
            if required { log.add(field(key), "required key is missing", at: node) }
            return .absent
        }
        guard let (text, node) = scalar(key, expecting: "a string") else { return .invalid }
        if ConfigText.trimmed(text).isEmpty {
            log.add(field(key), "must not be empty", at: node)
            return .invalid
        }
        return .value(text)
    }

    func integer(_ key: String, in range: ClosedRange<Int>, required: Bool = false) -> FieldValue<Int> {
        guard contains(key) else {
            if required { log.add(field(key), "required key is missing", at: node) }
            return .absent
        }
        guard let (text, node) = scalar(key, expecting: "a whole number") else { return .invalid }
        guard let number = Self.parseInteger(text) else {
            log.add(field(key), "must be a whole number, got \"\(text)\"", at: node)
            return .invalid
        }
        guard range.contains(number) else {
            log.add(field(key), Self.outOfRange(number, range), at: node)
            return .invalid
        }
        return .value(number)
    }

    func byteSize(_ key: String, in range: ClosedRange<Int>) -> FieldValue<Int> {
        guard contains(key) else { return .absent }
        guard let (text, node) = scalar(key, expecting: "a size such as 1MiB") else { return .invalid }
        guard let bytes = ConfigByteSize.parse(text) else {
            log.add(field(key), ConfigByteSize.explanation(for: text), at: node)
            return .invalid
        }
        guard range.contains(bytes) else {
            log.add(field(key), "must be between \(range.lowerBound) and \(range.upperBound) bytes, got \(bytes)", at: node)
            return .invalid
        }
        return .value(bytes)
    }

    /// Whether `key` is the word `off` (a limit turned off).
    func isOff(_ key: String) -> Bool {
        guard let scalar = value(key)?.scalar else { return false }
        return ConfigText.trimmed(scalar.string) == "off"
    }

    func bool(_ key: String) -> FieldValue<Bool> {
        guard contains(key) else { return .absent }
        guard let (text, node) = scalar(key, expecting: "true or false") else { return .invalid }
        switch text.lowercased() {
        case "true", "yes", "on": return .value(true)
        case "false", "no", "off": return .value(false)
        default:
            log.add(field(key), "must be true or false, got \"\(text)\"", at: node)
            return .invalid
        }
    }

    /// A duration that must be set (`0` is accepted when `range` allows it).
    func duration(_ key: String, in range: ClosedRange<Duration>) -> FieldValue<Duration> {
        switch readDuration(key, in: range, allowsOff: false, zeroMeansOff: false) {
        case .absent: .absent
        case .invalid: .invalid
        case .value(let duration): duration.map { .value($0) } ?? .invalid
        }
    }

    /// A duration that can be turned off with `off` (nil). `zeroMeansOff`: whether `0` is also off,
    /// or a real zero.
    func optionalDuration(_ key: String, in range: ClosedRange<Duration>, zeroMeansOff: Bool) -> FieldValue<Duration?> {
        readDuration(key, in: range, allowsOff: true, zeroMeansOff: zeroMeansOff)
    }

    /// The elements of a list; a null is an empty list.
    func sequence(_ key: String, of what: String) -> FieldValue<[Node]> {
        guard let node = value(key) else { return .absent }
        if MappingReader.isNull(node), node.scalar != nil { return .value([]) }
        guard let sequence = node.sequence else {
            log.add(field(key), "must be a list of \(what)", at: node)
            return .invalid
        }
        return .value(Array(sequence))
    }

    private func readDuration(
        _ key: String,
        in range: ClosedRange<Duration>,
        allowsOff: Bool,
        zeroMeansOff: Bool
    ) -> FieldValue<Duration?> {
        guard contains(key) else { return .absent }
        let expecting = allowsOff ? "a duration such as 5s, or off" : "a duration such as 5s"
        guard let (text, node) = scalar(key, expecting: expecting) else { return .invalid }
        let trimmed = ConfigText.trimmed(text).lowercased()
        if allowsOff, trimmed == "off" { return .value(nil) }
        guard let duration = ConfigDuration.parse(text) else {
            log.add(field(key), ConfigDuration.explanation(for: text, allowsOff: allowsOff), at: node)
            return .invalid
        }
        if zeroMeansOff, duration == .zero { return .value(nil) }
        guard range.contains(duration) else {
            let low = ConfigDuration.format(range.lowerBound)
            let high = ConfigDuration.format(range.upperBound)
            let off = allowsOff ? " (or off)" : ""
            log.add(field(key), "must be between \(low) and \(high)\(off), got \(ConfigDuration.format(duration))", at: node)
            return .invalid
        }
        return .value(duration)
    }

    static func outOfRange(_ number: Int, _ range: ClosedRange<Int>) -> String {
        if range.upperBound == Int.max { return "must be at least \(range.lowerBound), got \(number)" }
        return "must be between \(range.lowerBound) and \(range.upperBound), got \(number)"
    }

    /// Decimal digits with an optional sign and `_` separators, as YAML writes integers.
    private static func parseInteger(_ text: String) -> Int? {
        let cleaned = ConfigText.trimmed(text).filter { $0 != "_" }
        let digits = cleaned.first == "-" || cleaned.first == "+" ? cleaned.dropFirst() : Substring(cleaned)
        guard !digits.isEmpty, digits.utf8.allSatisfy(ConfigText.isDigit) else { return nil }
        return Int(cleaned)
    }
}
