import CLibPQ

/// Reads conninfo strings with libpq's own parser, so that every form libpq accepts is understood.
public enum PGConninfo {
    /// The keyword/value pairs libpq reads from `conninfo` (a key/value string or a URI), or the
    /// parser's message (redacted) when it is malformed.
    public static func parse(_ conninfo: String) -> Result<[String: String], PGError> {
        if conninfo.utf8.contains(0) {
            return .failure(PGError(kind: .connectFailed, message: "conninfo contains a NUL byte", connectionUsable: false))
        }
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &errorMessage) else {
            var message = "invalid conninfo"
            if let errorMessage {
                message = String(cString: errorMessage).trimmingTrailingNewlines
                PQfreemem(errorMessage)
            }
            return .failure(PGError(
                kind: .connectFailed,
                message: PGRedaction.redact(message, secrets: []),
                connectionUsable: false
            ))
        }
        defer { PQconninfoFree(options) }
        var values: [String: String] = [:]
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val { values[String(cString: keyword)] = String(cString: value) }
            option += 1
        }
        return .success(values)
    }

    /// The password a conninfo carries, if any.
    public static func password(in conninfo: String) -> String? {
        guard case .success(let values) = parse(conninfo) else { return nil }
        return values["password"]
    }

    /// The keywords whose values libpq itself never shows (`dispchar` `*` in `PQconndefaults`):
    /// `password` and `sslpassword`, and whatever a newer libpq adds. `password` stays in even if
    /// libpq cannot be asked.
    public static let secretKeywords: Set<String> = {
        var keywords: Set<String> = ["password", "sslpassword"]
        guard let options = PQconndefaults() else { return keywords }
        defer { PQconninfoFree(options) }
        var option = options
        while let keyword = option.pointee.keyword {
            if let dispchar = option.pointee.dispchar, dispchar.pointee == CChar(UInt8(ascii: "*")) {
                keywords.insert(String(cString: keyword))
            }
            option += 1
        }
        return keywords
    }()

    /// The values of the secret keywords a conninfo carries, as libpq reads them.
    public static func secretValues(in conninfo: String) -> [String] {
        guard case .success(let values) = parse(conninfo) else { return [] }
        return secretKeywords.sorted().compactMap { values[$0] }.filter { !$0.isEmpty }
    }
}

extension String {
    var trimmingTrailingNewlines: String {
        var text = self
        while let last = text.last, last == "\n" || last == "\r" || last == " " { text.removeLast() }
        return text
    }
}
