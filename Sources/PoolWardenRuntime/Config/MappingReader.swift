import Yams

/// One YAML mapping of the config, with its field path (`pools[0]`), the keys it may hold, and
/// the problem log. Unknown keys are reported when the reader is made; typed reads are in
/// `MappingReader+Values.swift`.
struct MappingReader {
    let path: String
    let node: Node
    let log: ProblemLog
    private let entries: [String: (key: Node, value: Node)]

    /// nil, with a problem logged, when `node` is not a mapping. `aliases` (normalized synonym →
    /// key) and `notes` (unknown key → advice) improve the message for an unknown key.
    init?(
        _ node: Node,
        path: String,
        keys: [String],
        aliases: [String: String] = [:],
        notes: [String: String] = [:],
        log: ProblemLog
    ) {
        self.path = path
        self.node = node
        self.log = log
        guard let mapping = node.mapping else {
            log.add(path, "must be a mapping of keys to values (\(keys.joined(separator: ", ")))", at: node)
            return nil
        }
        var entries: [String: (key: Node, value: Node)] = [:]
        var merged: [(key: Node, value: Node)] = []
        for (key, value) in mapping {
            guard let name = key.scalar?.string else {
                log.add(path, "keys must be plain names", at: key)
                continue
            }
            if name == "<<", key.tag.rawValue == Tag.Name.merge.rawValue {
                merged += Self.mergedPairs(value, path: path, log: log)
                continue
            }
            guard keys.contains(name) else {
                Self.reportUnknown(name, at: key, path: path, keys: keys, aliases: aliases, notes: notes, log: log)
                continue
            }
            entries[name] = (key, value)
        }
        // YAML merge keys (`<<: *defaults`) supply only what the mapping does not set itself.
        for (key, value) in merged {
            guard let name = key.scalar?.string, entries[name] == nil else { continue }
            guard keys.contains(name) else {
                Self.reportUnknown(name, at: key, path: path, keys: keys, aliases: aliases, notes: notes, log: log)
                continue
            }
            entries[name] = (key, value)
        }
        self.entries = entries
    }

    func field(_ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    /// The value written for `key`, null included; nil when the key is absent.
    func value(_ key: String) -> Node? {
        entries[key]?.value
    }

    func contains(_ key: String) -> Bool {
        entries[key] != nil
    }

    private static func reportUnknown(
        _ name: String,
        at key: Node,
        path: String,
        keys: [String],
        aliases: [String: String],
        notes: [String: String],
        log: ProblemLog
    ) {
        // A key that is no plain name suggests a wrong file (a .env, a key file) whose lines must
        // not be echoed.
        guard ConfigText.isValidName(name) else {
            log.add(path, "unknown key that is not a plain name (not shown); is this the right file?", at: key)
            return
        }
        let field = path.isEmpty ? name : "\(path).\(name)"
        if let note = notes[name] {
            log.add(field, "unknown key; \(note)", at: key)
        } else if let suggestion = NameSuggester.suggestion(for: name, among: keys, aliases: aliases) {
            log.add(field, "unknown key; did you mean \(suggestion)?", at: key)
        } else {
            log.add(field, "unknown key; expected one of \(keys.joined(separator: ", "))", at: key)
        }
    }

    /// Whether `node` is YAML's null (`~`, `null`, or nothing after the colon).
    static func isNull(_ node: Node) -> Bool {
        node.scalar != nil && node.tag.rawValue == Tag.Name.null.rawValue
    }

    private static func mergedPairs(_ value: Node, path: String, log: ProblemLog) -> [(key: Node, value: Node)] {
        if let mapping = value.mapping {
            return mapping.map { ($0.key, $0.value) }
        }
        if let sequence = value.sequence, sequence.allSatisfy({ $0.mapping != nil }) {
            return sequence.flatMap { $0.mapping.map { Array($0.map { ($0.key, $0.value) }) } ?? [] }
        }
        log.add(path.isEmpty ? "<<" : "\(path).<<", "a merge key needs a mapping or a list of mappings", at: value)
        return []
    }
}
