/// The subject of a client certificate, as an ordered list of attributes, compared exactly.
///
/// Its text form is RFC 4514's, most specific attribute first, which is what
/// `openssl x509 -noout -subject -nameopt RFC2253` prints (`CN=reporting,O=Acme,C=DE`). Attribute
/// names are matched without regard to case (`cn=` is `CN=`); values are compared as written.
public struct CertificateSubject: Sendable, Hashable, CustomStringConvertible {
    public struct Attribute: Sendable, Hashable {
        /// The short name, canonical: `CN`, `O`, `OU`, `C`, `ST`, `L`, `emailAddress`, `UID`, or
        /// whatever other name the text gave, upper-cased.
        public var type: String
        public var value: String

        public init(type: String, value: String) {
            self.type = CertificateSubject.canonicalType(type)
            self.value = value
        }
    }

    /// Most specific first, as in the text form.
    public var attributes: [Attribute]

    public init(attributes: [Attribute]) {
        self.attributes = attributes
    }

    /// Parses RFC 4514 text (`CN=reporting, O=Acme`): `,` or `+` between attributes, spaces
    /// around them ignored, `\` escaping a special character or giving two hex digits. nil when
    /// the text is not such a name.
    public init?(parsing text: String) {
        var attributes: [Attribute] = []
        var characters = Array(text)[...]
        while true {
            while characters.first == " " { characters.removeFirst() }
            guard let equals = characters.firstIndex(of: "=") else { return nil }
            let type = String(characters[..<equals]).trimmingSpaces
            guard !type.isEmpty, type.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" }) else { return nil }
            characters = characters[characters.index(after: equals)...]
            var value = ""
            var trailingSpaces = 0
            var separator: Character?
            while let character = characters.first {
                characters.removeFirst()
                if character == "\\" {
                    guard let next = characters.first else { return nil }
                    characters.removeFirst()
                    if next.isHexDigit, let low = characters.first, low.isHexDigit,
                       let byte = UInt8(String([next, low]), radix: 16) {
                        characters.removeFirst()
                        value.unicodeScalars.append(Unicode.Scalar(byte))
                    } else {
                        value.append(next)
                    }
                    trailingSpaces = 0
                } else if character == "," || character == "+" || character == ";" {
                    separator = character
                    break
                } else {
                    value.append(character)
                    trailingSpaces = character == " " ? trailingSpaces + 1 : 0
                }
            }
            value.removeLast(trailingSpaces)
            while value.first == " " { value.removeFirst() }
            guard !value.isEmpty else { return nil }
            attributes.append(Attribute(type: type, value: value))
            if separator == nil { break }
        }
        self.attributes = attributes
    }

    /// RFC 4514 text, with the characters it reserves escaped.
    public var description: String {
        attributes.map { "\($0.type)=\(Self.escaped($0.value))" }.joined(separator: ",")
    }

    private static let canonicalTypes: [String: String] = [
        "CN": "CN", "COMMONNAME": "CN", "O": "O", "ORGANIZATIONNAME": "O", "OU": "OU", "ORGANIZATIONALUNITNAME": "OU",
        "C": "C", "COUNTRYNAME": "C", "ST": "ST", "S": "ST", "STATEORPROVINCENAME": "ST", "L": "L", "LOCALITYNAME": "L",
        "EMAILADDRESS": "emailAddress", "E": "emailAddress", "UID": "UID", "USERID": "UID",
    ]

    static func canonicalType(_ type: String) -> String {
        let upper = type.uppercased()
        return canonicalTypes[upper] ?? upper
    }

    private static func escaped(_ value: String) -> String {
        var out = ""
        for (offset, character) in value.enumerated() {
            let first = offset == 0
            let last = offset == value.count - 1
            if ",+\"\\<>;=".contains(character) || (first && (character == "#" || character == " ")) || (last && character == " ") {
                out.append("\\")
            }
            out.append(character)
        }
        return out
    }
}

private extension String {
    var trimmingSpaces: String {
        var text = Substring(self)
        while text.first == " " { text.removeFirst() }
        while text.last == " " { text.removeLast() }
        return String(text)
    }
}
