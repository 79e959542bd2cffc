/// The subject of a client certificate: its relative distinguished names, most specific first,
/// each one or more attributes, compared exactly (UTF-8 bytes, order kept).
///
/// Its text form is RFC 4514's, which is what `openssl x509 -noout -subject -nameopt RFC2253`
/// prints (`CN=reporting,O=Acme,C=DE`; `+` joins the attributes of a multi-valued name). Attribute
/// names are matched without regard to case (`cn=` is `CN=`); values as written, `\` escaping a
/// special character or giving a byte in hex (`\C3\A9` is `é`).
public struct CertificateSubject: Sendable, Hashable, CustomStringConvertible {
    public struct Attribute: Sendable, Hashable {
        /// The short name, one of ``CertificateSubject/knownTypes``, or ``CertificateSubject/unnamed``
        /// for an attribute a certificate has and no config can name.
        public let type: String
        public let value: String

        public init(type: String, value: String) {
            self.type = type
            self.value = value
        }

        // Bytes, not `String` equality: that treats canonically equivalent Unicode (a decomposed
        // `é`) as equal, and a subject must be the one the CA signed.
        public static func == (left: Attribute, right: Attribute) -> Bool {
            left.type == right.type && left.value.utf8.elementsEqual(right.value.utf8)
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(type)
            for byte in value.utf8 { hasher.combine(byte) }
        }
    }

    /// The attribute types a `cert_subject` may name, by their RFC 4514 / OpenSSL short names.
    public static let knownTypes = ["CN", "O", "OU", "C", "ST", "L", "STREET", "DC", "UID", "serialNumber", "emailAddress"]
    /// The type given to an attribute PoolWarden cannot name or whose value is no string: such a
    /// certificate identifies no caller, rather than one whose subject it only partly shows.
    public static let unnamed = "?"

    /// Most specific first, as in the text form.
    public let names: [[Attribute]]

    public init(names: [[Attribute]]) {
        self.names = names
    }

    /// Why a `cert_subject` cannot be read, for the config's problem.
    public struct ParseError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Parses RFC 4514 text (`CN=reporting, O=Acme`): `,` (or `;`) between names, `+` between the
    /// attributes of one name, spaces around them ignored.
    public init(parsing text: String) throws(ParseError) {
        let bytes = Array(text.utf8)
        var index = 0
        var names: [[Attribute]] = []
        var current: [Attribute] = []
        func skipSpaces() { while index < bytes.count, bytes[index] == UInt8(ascii: " ") { index += 1 } }
        while true {
            skipSpaces()
            let typeStart = index
            while index < bytes.count, bytes[index] != UInt8(ascii: "=") { index += 1 }
            guard index < bytes.count else { throw ParseError(description: "expected TYPE=value, e.g. CN=reporting") }
            var typeText = String(decoding: bytes[typeStart..<index], as: UTF8.self)
            while typeText.hasSuffix(" ") { typeText.removeLast() }
            guard let type = Self.canonicalType(typeText) else {
                throw ParseError(description: "attribute type \"\(typeText)\" is not one of \(Self.knownTypes.joined(separator: ", "))")
            }
            index += 1
            skipSpaces()
            if index < bytes.count, bytes[index] == UInt8(ascii: "#") {
                throw ParseError(description: "a hex-encoded value (#...) cannot match; write the value as text")
            }
            var value: [UInt8] = []
            // How many bytes at the end are unescaped spaces, which end a value but are not part of it.
            var trailingSpaces = 0
            var separator: UInt8?
            while index < bytes.count {
                let byte = bytes[index]
                index += 1
                if byte == UInt8(ascii: "\\") {
                    guard index < bytes.count else { throw ParseError(description: "ends with a lone \\") }
                    let next = bytes[index]
                    if index + 1 < bytes.count, let high = Self.hexValue(next), let low = Self.hexValue(bytes[index + 1]) {
                        value.append(high << 4 | low)
                        index += 2
                    } else {
                        value.append(next)
                        index += 1
                    }
                    trailingSpaces = 0
                } else if byte == UInt8(ascii: ",") || byte == UInt8(ascii: ";") || byte == UInt8(ascii: "+") {
                    separator = byte
                    break
                } else {
                    value.append(byte)
                    trailingSpaces = byte == UInt8(ascii: " ") ? trailingSpaces + 1 : 0
                }
            }
            value.removeLast(trailingSpaces)
            guard !value.isEmpty else { throw ParseError(description: "\(type)= has no value") }
            guard let decoded = String(validating: value, as: UTF8.self) else {
                throw ParseError(description: "the value of \(type) is not UTF-8")
            }
            current.append(Attribute(type: type, value: decoded))
            guard let separator else { break }
            if separator != UInt8(ascii: "+") {
                names.append(current)
                current = []
            }
        }
        names.append(current)
        self.names = names
    }

    /// RFC 4514 text, with the characters it reserves escaped.
    public var description: String {
        names.map { name in
            name.map { "\($0.type)=\(Self.escaped($0.value))" }.joined(separator: "+")
        }.joined(separator: ",")
    }

    private static func canonicalType(_ type: String) -> String? {
        let aliases = [
            "COMMONNAME": "CN", "ORGANIZATIONNAME": "O", "ORGANIZATIONALUNITNAME": "OU", "COUNTRYNAME": "C", "S": "ST",
            "STATEORPROVINCENAME": "ST", "LOCALITYNAME": "L", "STREETADDRESS": "STREET", "DOMAINCOMPONENT": "DC",
            "USERID": "UID", "E": "emailAddress", "EMAIL": "emailAddress",
        ]
        let upper = type.uppercased()
        if let known = knownTypes.first(where: { $0.uppercased() == upper }) { return known }
        return aliases[upper]
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func escaped(_ value: String) -> String {
        var out = ""
        let characters = Array(value)
        for (offset, character) in characters.enumerated() {
            let first = offset == 0
            let last = offset == characters.count - 1
            if ",+\"\\<>;=".contains(character) || (first && (character == "#" || character == " ")) || (last && character == " ") {
                out.append("\\")
            }
            out.append(character)
        }
        return out
    }
}
