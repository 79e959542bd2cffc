import Foundation

/// Removes secrets from text that libpq or a user produced: the given secrets, the value of every
/// conninfo keyword libpq marks secret (`password=`, `sslpassword=`, ...) in key/value form or in a
/// URI's query, and the password of a `postgresql://user:password@host` URI.
public enum PGRedaction {
    public static let mask = "***"

    public static func redact(_ text: String, secrets: [String] = []) -> String {
        var result = text
        for secret in secrets where !secret.isEmpty {
            result = result.replacingAll(secret, with: mask)
        }
        result = redactKeywordValues(result)
        result = redactURIs(result)
        return result
    }

    /// A conninfo as it may be shown: `redact` plus every secret value libpq itself reads from it,
    /// which catches what text rules cannot see (a URI password holding a space, say).
    public static func redact(conninfo: String, secrets: [String] = []) -> String {
        redact(conninfo, secrets: secrets + PGConninfo.secretValues(in: conninfo))
    }

    /// The secret keywords, longest first so that none hides a longer one.
    private static let keywords: [[Character]] = PGConninfo.secretKeywords.sorted { $0.count > $1.count }.map(Array.init)

    /// `password = 'it''s'` or `sslpassword=plain`: libpq's quoting rules for conninfo values.
    private static func redactKeywordValues(_ text: String) -> String {
        let chars = Array(text)
        var out: [Character] = []
        out.reserveCapacity(chars.count)
        var i = 0
        while i < chars.count {
            let atWordStart = i == 0 || !(chars[i - 1].isLetter || chars[i - 1].isNumber || chars[i - 1] == "_")
            let keyword = atWordStart ? keywords.first { matches($0, in: chars, at: i) } : nil
            guard let keyword else {
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

    private static func matches(_ keyword: [Character], in chars: [Character], at start: Int) -> Bool {
        guard start + keyword.count <= chars.count else { return false }
        for (offset, expected) in keyword.enumerated() where chars[start + offset].lowercased() != String(expected) {
            return false
        }
        return true
    }

    /// In each `scheme://user:secret@host/db?sslpassword=secret` of the text: the userinfo's
    /// password, and the values of secret keywords in the query, even percent-encoded ones.
    private static func redactURIs(_ text: String) -> String {
        var result = ""
        var rest = Substring(text)
        while let schemeEnd = rest.range(of: "://") {
            result += rest[..<schemeEnd.upperBound]
            rest = rest[schemeEnd.upperBound...]
            let uriEnd = rest.firstIndex(where: { $0.isWhitespace || $0 == "\"" }) ?? rest.endIndex
            var uri = rest[..<uriEnd]
            rest = rest[uriEnd...]
            // libpq takes everything before the first `@` or `/` as the userinfo, `?` included.
            if let userinfoEnd = uri.firstIndex(where: { $0 == "@" || $0 == "/" }), uri[userinfoEnd] == "@" {
                let userinfo = uri[..<userinfoEnd]
                if let colon = userinfo.firstIndex(of: ":") {
                    result += userinfo[...colon]
                    result += mask
                } else {
                    result += userinfo
                }
                uri = uri[userinfoEnd...]
            }
            guard let question = uri.firstIndex(of: "?") else {
                result += uri
                continue
            }
            result += uri[...question]
            let parameters = uri[uri.index(after: question)...].split(separator: "&", omittingEmptySubsequences: false)
            result += parameters.map { parameter -> String in
                guard let equals = parameter.firstIndex(of: "=") else { return String(parameter) }
                let key = parameter[..<equals]
                let decoded = (key.removingPercentEncoding ?? String(key)).lowercased()
                return PGConninfo.secretKeywords.contains(decoded) ? key + "=" + mask : String(parameter)
            }.joined(separator: "&")
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
