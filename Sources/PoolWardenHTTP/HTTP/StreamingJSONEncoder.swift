/// Encodes `Encodable` values (the generated wire types) straight into compact JSON bytes, in
/// the order the values are encoded, with no intermediate tree. Foundation's `JSONEncoder` builds
/// a tree of boxed values first and costs several times as much, which matters only for large
/// answers such as the status of every pool (`GET /v1/pools`).
///
/// It supports what the generated Codable conformances do: keyed and unkeyed containers filled
/// in order, nested values through `encode(_:forKey:)`, optionals through `encodeIfPresent`.
/// Anything else (a container reopened out of order, a `superEncoder`) throws, and the caller
/// falls back to the generated handler and its `JSONEncoder`.
struct StreamingJSONEncoder {
    struct Unsupported: Error {}

    func encode(_ value: some Encodable) throws -> [UInt8] {
        let output = JSONOutput()
        output.bytes.reserveCapacity(64 << 10)
        try output.nested(value)
        return output.bytes
    }

    /// A JSON string literal for `value`; also what streamed rows (`QueryStreamFormat`) write.
    static func appendString(_ value: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        // Most strings (every key, names, states) need no escaping: copied in one go.
        let plain = value.utf8.withContiguousStorageIfAvailable { utf8 -> Bool in
            guard !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else { return false }
            bytes.append(contentsOf: utf8)
            return true
        }
        if plain == true {
            bytes.append(UInt8(ascii: "\""))
            return
        }
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

/// The bytes written so far and, per open container, whether it has an element yet.
private final class JSONOutput {
    // One encoding uses one output on one thread, and no write re-enters another: the dynamic
    // exclusivity checks a class's stored property otherwise gets cost more than the writes.
    @exclusivity(unchecked) var bytes: [UInt8] = []
    /// One entry per open container, innermost last: its closing byte and whether a value was written.
    @exclusivity(unchecked) var open: [(close: UInt8, hasElement: Bool)] = []
    func beginElement() {
        if open[open.count - 1].hasElement { bytes.append(UInt8(ascii: ",")) }
        open[open.count - 1].hasElement = true
    }

    // Every write below touches `bytes` through one inout access: appending byte by byte to a
    // class's property pays a dynamic exclusivity check per byte.

    func openContainer(_ openByte: UInt8, _ closeByte: UInt8) {
        bytes.append(openByte)
        open.append((closeByte, false))
    }

    /// Closes every container deeper than `depth`: a value's containers end when it returns.
    func close(downTo depth: Int) {
        while open.count > depth {
            bytes.append(open.removeLast().close)
        }
    }

    func key(_ key: String) {
        beginElement()
        StreamingJSONEncoder.appendString(key, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }

    func string(_ value: String) {
        StreamingJSONEncoder.appendString(value, to: &bytes)
    }

    func literal(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    /// Writes a nested value at the current position and closes whatever containers it opened.
    func nested(_ value: some Encodable) throws {
        let depth = open.count
        try value.encode(to: JSONStreamEncoder(output: self))
        close(downTo: depth)
    }

    func integer(_ value: some BinaryInteger) {
        guard let value = Int(exactly: value) else { return literal(String(value)) }
        Self.appendInteger(value, to: &bytes)
    }

    private static func appendInteger(_ value: Int, to bytes: inout [UInt8]) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        let start = bytes.count
        repeat {
            bytes.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        bytes[start...].reverse()
    }

    func double(_ value: Double) throws {
        guard value.isFinite else { throw StreamingJSONEncoder.Unsupported() }
        literal("\(value)")
    }
}

/// The coding path is not tracked: the generated conformances never read it while encoding.
private struct JSONStreamEncoder: Encoder {
    let output: JSONOutput
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        output.openContainer(UInt8(ascii: "{"), UInt8(ascii: "}"))
        return KeyedEncodingContainer(KeyedJSON<Key>(output: output, depth: output.open.count))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        output.openContainer(UInt8(ascii: "["), UInt8(ascii: "]"))
        return UnkeyedJSON(output: output, depth: output.open.count)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleJSON(output: output)
    }
}

/// Writes one value of a type without its own overload: a nested value (an object, an array,
/// a string enum) through its own conformance.
private func writeValue(_ output: JSONOutput, _ value: some Encodable) throws {
    try output.nested(value)
}

private struct KeyedJSON<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let output: JSONOutput
    let depth: Int
    var codingPath: [any CodingKey] { [] }

    /// The key of the next value; fails when the container is used out of order.
    private func key(_ key: Key) throws {
        guard output.open.count == depth else { throw StreamingJSONEncoder.Unsupported() }
        output.key(key.stringValue)
    }

    mutating func encodeNil(forKey key: Key) throws { try self.key(key); output.literal("null") }
    mutating func encode(_ value: Bool, forKey key: Key) throws { try self.key(key); output.literal(value ? "true" : "false") }
    mutating func encode(_ value: String, forKey key: Key) throws { try self.key(key); output.string(value) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try self.key(key); try output.double(value) }
    mutating func encode(_ value: Float, forKey key: Key) throws { try self.key(key); try output.double(Double(value)) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try self.key(key); output.integer(value) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try self.key(key); output.integer(value) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try self.key(key); output.integer(value) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try self.key(key); output.integer(value) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try self.key(key); output.integer(value) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try self.key(key); output.integer(value) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try self.key(key); output.integer(value) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try self.key(key); output.integer(value) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try self.key(key); output.integer(value) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try self.key(key); output.integer(value) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try self.key(key); try writeValue(output, value) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        output.key(key.stringValue)
        return JSONStreamEncoder(output: output).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        output.key(key.stringValue)
        return JSONStreamEncoder(output: output).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder { UnsupportedEncoder() }
    mutating func superEncoder(forKey key: Key) -> any Encoder { UnsupportedEncoder() }
}

private struct UnkeyedJSON: UnkeyedEncodingContainer {
    let output: JSONOutput
    let depth: Int
    var codingPath: [any CodingKey] { [] }
    private(set) var count = 0

    init(output: JSONOutput, depth: Int) {
        self.output = output
        self.depth = depth
    }

    /// Starts the next element; fails when the container is used out of order.
    private mutating func element() throws {
        guard output.open.count == depth else { throw StreamingJSONEncoder.Unsupported() }
        output.beginElement()
        count += 1
    }

    mutating func encodeNil() throws { try element(); output.literal("null") }
    mutating func encode(_ value: Bool) throws { try element(); output.literal(value ? "true" : "false") }
    mutating func encode(_ value: String) throws { try element(); output.string(value) }
    mutating func encode(_ value: Double) throws { try element(); try output.double(value) }
    mutating func encode(_ value: Float) throws { try element(); try output.double(Double(value)) }
    mutating func encode(_ value: Int) throws { try element(); output.integer(value) }
    mutating func encode(_ value: Int8) throws { try element(); output.integer(value) }
    mutating func encode(_ value: Int16) throws { try element(); output.integer(value) }
    mutating func encode(_ value: Int32) throws { try element(); output.integer(value) }
    mutating func encode(_ value: Int64) throws { try element(); output.integer(value) }
    mutating func encode(_ value: UInt) throws { try element(); output.integer(value) }
    mutating func encode(_ value: UInt8) throws { try element(); output.integer(value) }
    mutating func encode(_ value: UInt16) throws { try element(); output.integer(value) }
    mutating func encode(_ value: UInt32) throws { try element(); output.integer(value) }
    mutating func encode(_ value: UInt64) throws { try element(); output.integer(value) }
    mutating func encode<T: Encodable>(_ value: T) throws { try element(); try writeValue(output, value) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        output.beginElement()
        count += 1
        return JSONStreamEncoder(output: output).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        output.beginElement()
        count += 1
        return JSONStreamEncoder(output: output).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder { UnsupportedEncoder() }
}

private struct SingleJSON: SingleValueEncodingContainer {
    let output: JSONOutput
    var codingPath: [any CodingKey] { [] }

    mutating func encodeNil() throws { output.literal("null") }
    mutating func encode(_ value: Bool) throws { output.literal(value ? "true" : "false") }
    mutating func encode(_ value: String) throws { output.string(value) }
    mutating func encode(_ value: Double) throws { try output.double(value) }
    mutating func encode(_ value: Float) throws { try output.double(Double(value)) }
    mutating func encode(_ value: Int) throws { output.integer(value) }
    mutating func encode(_ value: Int8) throws { output.integer(value) }
    mutating func encode(_ value: Int16) throws { output.integer(value) }
    mutating func encode(_ value: Int32) throws { output.integer(value) }
    mutating func encode(_ value: Int64) throws { output.integer(value) }
    mutating func encode(_ value: UInt) throws { output.integer(value) }
    mutating func encode(_ value: UInt8) throws { output.integer(value) }
    mutating func encode(_ value: UInt16) throws { output.integer(value) }
    mutating func encode(_ value: UInt32) throws { output.integer(value) }
    mutating func encode(_ value: UInt64) throws { output.integer(value) }
    mutating func encode<T: Encodable>(_ value: T) throws { try writeValue(output, value) }
}

/// What `superEncoder` hands out: every use fails the encoding, which then falls back.
private struct UnsupportedEncoder: Encoder {
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(FailingKeyed<Key>())
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer { FailingUnkeyed() }
    func singleValueContainer() -> any SingleValueEncodingContainer { FailingSingle() }
}

private struct FailingKeyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
    var codingPath: [any CodingKey] { [] }
    mutating func encodeNil(forKey key: Key) throws { throw StreamingJSONEncoder.Unsupported() }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { throw StreamingJSONEncoder.Unsupported() }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(FailingKeyed<NestedKey>())
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer { FailingUnkeyed() }
    mutating func superEncoder() -> any Encoder { UnsupportedEncoder() }
    mutating func superEncoder(forKey key: Key) -> any Encoder { UnsupportedEncoder() }
}

private struct FailingUnkeyed: UnkeyedEncodingContainer {
    var codingPath: [any CodingKey] { [] }
    var count: Int { 0 }
    mutating func encodeNil() throws { throw StreamingJSONEncoder.Unsupported() }
    mutating func encode<T: Encodable>(_ value: T) throws { throw StreamingJSONEncoder.Unsupported() }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(FailingKeyed<NestedKey>())
    }
    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { FailingUnkeyed() }
    mutating func superEncoder() -> any Encoder { UnsupportedEncoder() }
}

private struct FailingSingle: SingleValueEncodingContainer {
    var codingPath: [any CodingKey] { [] }
    mutating func encodeNil() throws { throw StreamingJSONEncoder.Unsupported() }
    mutating func encode<T: Encodable>(_ value: T) throws { throw StreamingJSONEncoder.Unsupported() }
}
