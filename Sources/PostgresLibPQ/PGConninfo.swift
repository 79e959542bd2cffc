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
}

extension String {
    var trimmingTrailingNewlines: String {
        var text = self
        while let last = text.last, last == "\n" || last == "\r" || last == " " { text.removeLast() }
        return text
    }
}
