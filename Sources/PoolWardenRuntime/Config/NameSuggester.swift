/// Finds the name a user probably meant when they wrote an unknown key or pool name: the same
/// name spelled differently (`maxPerCaller`), a known synonym from other pool libraries
/// (`max_size`, `dsn`), a typo, or a known name inside a longer one.
enum NameSuggester {
    /// `aliases` maps a synonym, in normalized form (lowercase, no `_` or `-`), to a candidate.
    static func suggestion(for unknown: String, among candidates: [String], aliases: [String: String] = [:]) -> String? {
        let wanted = normalized(unknown)
        guard !wanted.isEmpty, !candidates.isEmpty else { return nil }
        if let same = candidates.first(where: { normalized($0) == wanted }) { return same }
        if let alias = aliases[wanted], candidates.contains(alias) { return alias }

        let scored = candidates.map { ($0, distance(Array(wanted), Array(normalized($0)))) }
        if let (best, score) = scored.min(by: { $0.1 < $1.1 }), score <= max(1, min(3, normalized(best).count / 3)) {
            return best
        }
        let parts = Set(components(of: unknown))
        if let part = candidates.filter({ parts.contains($0.lowercased()) }).max(by: { $0.count < $1.count }) {
            return part
        }
        let prefixed = candidates.filter { candidate in
            let known = normalized(candidate)
            return min(known.count, wanted.count) >= 4 && (known.hasPrefix(wanted) || wanted.hasPrefix(known))
        }
        return prefixed.count == 1 ? prefixed[0] : nil
    }

    private static func normalized(_ name: String) -> String {
        String(name.lowercased().filter { $0 != "_" && $0 != "-" && $0 != " " })
    }

    /// `maxSize`, `max_size` and `max-size` all give `max` and `size`.
    private static func components(of name: String) -> [String] {
        var parts: [String] = []
        var current = ""
        for character in name {
            if character == "_" || character == "-" || character == " " || character == "." {
                parts.append(current)
                current = ""
            } else if character.isUppercase, !current.isEmpty {
                parts.append(current)
                current = String(character)
            } else {
                current.append(character)
            }
        }
        parts.append(current)
        return parts.filter { !$0.isEmpty }.map { $0.lowercased() }
    }

    /// Edit distance counting a swap of neighbours as one edit (optimal string alignment), as
    /// `prot` for `port` is one slip of the fingers.
    private static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { table[i][0] = i }
        for j in 0...b.count { table[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
                }
            }
        }
        return table[a.count][b.count]
    }
}
