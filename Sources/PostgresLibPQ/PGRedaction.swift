import Foundation

/// Removes secrets from text that libpq or a user produced: the given passwords, the password of a
/// `postgresql://user:password@host` URI, and the value of `password=` in a key/value conninfo.
public enum PGRedaction {
    public static let mask = "***"

    public static func redact(_ text: String, secrets: [String] = []) -> String {
        var result = text
        for secret in secrets where !secret.isEmpty {
            result = result.replacingAll(secret, with: mask)
        }
        result = redactKeywordPasswords(result)
        result = redactURIPasswords(result)
        return result
    }

    /// `password = 'it''s'` or `password=plain`: libpq's quoting rules for conninfo values.
    private static func redactKeywordPasswords(_ text: String) -> String {
        let chars = Array(text)
        var out: [Character] = []
        out.reserveCapacity(chars.count)
        let keyword = Array("password")
        var i = 0
        while i < chars.count {
            let matchesKeyword = i + keyword.count <= chars.count
                && zip(chars[i..<(i + keyword.count)], keyword).allSatisfy { $0.lowercased() == String($1) }
                && (i == 0 || !(chars[i - 1].isLetter || chars[i - 1] == "_"))
            guard matchesKeyword else {
                out.append(chars[i])
                i += 1
                continue
            }
            var j = i + keyword.count
            while j < chars.count, chars[j] == " " { j += 1 }
            guard j < chars.count, chars[j] == "=" else {
                out.append(contentsOf: chars[i..<(i + keyword.count)])
                i += keyword.count
                continue
            }
            j += 1
            while j < chars.count, chars[j] == " " { j += 1 }
            out.append(contentsOf: keyword)
            out.append("=")
            out.append(contentsOf: mask)
            if j < chars.count, chars[j] == "'" {
                j += 1
                while j < chars.count {
                    if chars[j] == "\\" { j += 2; continue }
                    if chars[j] == "'" { j += 1; break }
                    j += 1
                }
            } else {
                while j < chars.count, !chars[j].isWhitespace, chars[j] != "&", chars[j] != "\"" { j += 1 }
            }
            i = min(j, chars.count)
        }
        return String(out)
    }

    /// `scheme://user:secret@host` → `scheme://user:***@host`.
    private static func redactURIPasswords(_ text: String) -> String {
        var result = ""
        var rest = Substring(text)
        while let schemeEnd = rest.range(of: "://") {
            result += rest[..<schemeEnd.upperBound]
            rest = rest[schemeEnd.upperBound...]
            let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0.isWhitespace || $0 == "\"" }) ?? rest.endIndex
            let authority = rest[..<authorityEnd]
            if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
                result += authority[...colon]
                result += mask
                result += authority[at...]
            } else {
                result += authority
            }
            rest = rest[authorityEnd...]
        }
        return result + rest
    }
}

extension String {
    fileprivate func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = Substring(self)
        while let range = rest.range(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
