/// What a result costs in this process's memory once decoded, as `PGResultLimits.maxBytes` counts
/// it: not the text PostgreSQL sent but what holding the values takes, so that a result of NULLs
/// or empty strings, nearly free on the wire, is bounded like any other.
///
/// Figures are for 64-bit platforms and the standard library's layouts: an array's heap header is
/// 32 bytes, a string longer than 15 UTF-8 bytes lives in a heap buffer with a 32-byte header and
/// a NUL, and malloc adds about 16 bytes per block.
enum PGResultCost {
    /// Each value's slot in its row's array (`MemoryLayout<JSONValue>.stride`, 24 bytes), whatever
    /// the value: NULL costs as much as a small integer.
    static let value = MemoryLayout<JSONValue>.stride
    /// Each row's array header and malloc block, and its slot in the result's array counted twice,
    /// for the spare capacity that array keeps as it grows.
    static let row = arrayHeader + 2 * MemoryLayout<[JSONValue]>.stride
    /// Each column's description (name and type name), its decoding rule, and the bytes of its name.
    static func column(nameLength: Int, typeNameLength: Int) -> Int {
        MemoryLayout<PGColumn>.stride + MemoryLayout<PGValueDecoder.Rule>.stride
            + string(nameLength) + string(typeNameLength)
    }

    static let arrayHeader = 48

    /// The heap buffer of a string of `length` UTF-8 bytes; none for one of up to 15, kept inline.
    static func string(_ length: Int) -> Int {
        length <= 15 ? 0 : 48 + length
    }

    /// What a value of `length` text bytes costs at most before decoding, except for JSON: a
    /// string of the text (numbers and booleans cost less).
    static func text(_ length: Int) -> Int {
        value + string(length)
    }

    /// What the tree of a decoded JSON value costs beyond its slot: its text as a string counts
    /// less than the arrays and objects it parses into (`[0,0,...]` takes 2 bytes per element as
    /// text and 24 parsed).
    static func tree(_ json: JSONValue) -> Int {
        switch json {
        case .null, .bool, .int, .double:
            return 0
        case .string(let text):
            return string(text.utf8.count)
        case .array(let elements):
            var total = arrayHeader
            for element in elements { total += value + tree(element) }
            return total
        case .object(let members):
            var total = arrayHeader
            for member in members {
                total += MemoryLayout<(key: String, value: JSONValue)>.stride + string(member.key.utf8.count) + tree(member.value)
            }
            return total
        }
    }
}
