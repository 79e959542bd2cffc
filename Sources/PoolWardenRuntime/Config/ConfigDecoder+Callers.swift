import Yams

extension ConfigDecoder {
    static let callerKeys = ["name", "role", "key_env", "key_sha256", "pools"]
    static let callerAliases = [
        "apikey": "key_env", "token": "key_env", "tokenenv": "key_env", "keyenvironment": "key_env",
        "keyhash": "key_sha256", "sha256": "key_sha256", "hash": "key_sha256", "keydigest": "key_sha256",
        "grants": "pools", "permissions": "pools", "allowedpools": "pools", "pool": "pools",
        "roles": "role", "user": "name",
    ]
    static let callerNotes = [
        "key": "a key does not go in the config file; put it in an environment variable and name that in key_env, "
            + "or give its SHA-256 digest in key_sha256",
    ]

    /// `poolNames`: the pools a client may be granted; nil when unknown (a broken pools section).
    func decodeCallers(_ nodes: [Node], poolNames: Set<String>?) -> [CallerConfig] {
        var callers: [CallerConfig] = []
        var firstIndexByName: [String: Int] = [:]
        var firstIndexByKey: [(digest: KeyDigest, index: Int, name: String)] = []
        for (index, node) in nodes.enumerated() {
            let path = "callers[\(index)]"
            guard let reader = MappingReader(
                node, path: path, keys: Self.callerKeys, aliases: Self.callerAliases, notes: Self.callerNotes, log: log
            ) else { continue }
            var name: String?
            if case .value(let written) = reader.string("name", required: true) {
                if !ConfigText.isValidName(written) {
                    log.add(reader.field("name"), "\"\(written)\" is not a valid caller name; use 1 to 63 letters, digits, "
                        + "_, . or -, not starting with . or -", at: reader.value("name"))
                } else if let first = firstIndexByName[written] {
                    log.add(reader.field("name"), "duplicate caller name \(written) (also callers[\(first)])", at: reader.value("name"))
                } else {
                    firstIndexByName[written] = index
                    name = written
                }
            }
            let role = decodeRole(reader)
            let digest = decodeKey(reader)
            let pools = decodeGrants(reader, role: role, poolNames: poolNames)
            if let digest, let name {
                if let earlier = firstIndexByKey.first(where: { $0.digest == digest }) {
                    log.add(path, "has the same key as callers[\(earlier.index)] (\(earlier.name)); every caller needs its own key",
                            at: reader.value("key_env") ?? reader.value("key_sha256"))
                } else {
                    firstIndexByKey.append((digest, index, name))
                }
            }
            guard let name, let role, let digest, !pools.isInvalid else { continue }
            let keyEnv = reader.value("key_env")?.scalar?.string
            callers.append(CallerConfig(name: name, role: role, pools: pools.value, keyDigest: digest, keyEnv: keyEnv))
        }
        return callers
    }

    private func decodeRole(_ reader: MappingReader) -> CallerIdentity.Role? {
        guard case .value(let text) = reader.string("role", required: true) else { return nil }
        guard let role = CallerIdentity.Role(rawValue: ConfigText.trimmed(text).lowercased()) else {
            log.add(reader.field("role"), "must be admin or client, got \"\(text)\"", at: reader.value("role"))
            return nil
        }
        return role
    }

    /// The digest of the caller's key, from exactly one of `key_env` and `key_sha256`.
    private func decodeKey(_ reader: MappingReader) -> KeyDigest? {
        switch (reader.contains("key_env"), reader.contains("key_sha256")) {
        case (true, false):
            return secret(from: reader, key: "key_env").value.map { KeyDigest(hashing: $0) }
        case (false, true):
            guard case .value(let hex) = reader.string("key_sha256") else { return nil }
            guard let digest = KeyDigest(hex: String(ConfigText.trimmed(hex))) else {
                // The length only: this field may hold a key pasted by mistake.
                log.add(reader.field("key_sha256"), "must be a SHA-256 digest written as 64 hexadecimal characters "
                    + "(e.g. the output of `printf %s \"$KEY\" | sha256sum`), got \(hex.count) characters",
                        at: reader.value("key_sha256"))
                return nil
            }
            return digest
        default:
            log.add(reader.path, "needs exactly one of key_env or key_sha256", at: reader.node)
            return nil
        }
    }

    /// The pools a client may use; absent: every pool.
    private func decodeGrants(_ reader: MappingReader, role: CallerIdentity.Role?, poolNames: Set<String>?) -> FieldValue<Set<String>> {
        switch reader.sequence("pools", of: "pool names") {
        case .absent:
            return .absent
        case .invalid:
            return .invalid
        case .value(let nodes):
            if role == .admin {
                log.add(reader.field("pools"), "an admin may use every pool; remove pools, or make the role client",
                        at: reader.value("pools"))
                return .invalid
            }
            var grants: Set<String> = []
            var valid = true
            for (index, node) in nodes.enumerated() {
                let field = "\(reader.field("pools"))[\(index)]"
                guard let pool = node.scalar?.string, !MappingReader.isNull(node) else {
                    log.add(field, "must be a pool name", at: node)
                    valid = false
                    continue
                }
                if let poolNames, !poolNames.contains(pool) {
                    let hint = NameSuggester.suggestion(for: pool, among: poolNames.sorted()).map { "; did you mean \($0)?" } ?? ""
                    log.add(field, "no pool named \(pool) in pools\(hint)", at: node)
                    valid = false
                    continue
                }
                grants.insert(pool)
            }
            return valid ? .value(grants) : .invalid
        }
    }
}
