import Yams

extension ConfigDecoder {
    static let callerKeys = ["name", "role", "key_env", "key_sha256", "cert_subject", "pools"]
    static let callerAliases = [
        "apikey": "key_env", "token": "key_env", "tokenenv": "key_env", "keyenvironment": "key_env",
        "keyhash": "key_sha256", "sha256": "key_sha256", "hash": "key_sha256", "keydigest": "key_sha256",
        "grants": "pools", "permissions": "pools", "allowedpools": "pools", "pool": "pools",
        "roles": "role", "user": "name",
        "subject": "cert_subject", "certificatesubject": "cert_subject", "certsubject": "cert_subject", "dn": "cert_subject",
    ]
    static let callerNotes = [
        "key": "a key does not go in the config file; put it in an environment variable and name that in key_env, "
            + "or give its SHA-256 digest in key_sha256",
    ]

    /// `poolNames`: the pools a client may be granted; nil when unknown (a broken pools section).
    /// `clientCertificates`: whether clients present certificates (`listen.tls.client_ca_file`),
    /// without which no caller can be known by one.
    func decodeCallers(_ nodes: [Node], poolNames: Set<String>?, clientCertificates: Bool) -> [CallerConfig] {
        var callers: [CallerConfig] = []
        var firstIndexByName: [String: Int] = [:]
        var earlierKeys: [(digest: KeyDigest, index: Int, name: String)] = []
        var earlierSubjects: [CertificateSubject: (index: Int, name: String)] = [:]
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
            let subject = decodeSubject(reader, clientCertificates: clientCertificates)
            let keys = decodeKeys(reader, subjectGiven: reader.contains("cert_subject"))
            let pools = decodeGrants(reader, role: role, poolNames: poolNames)
            var shared = false
            for key in keys ?? [] {
                if let earlier = earlierKeys.first(where: { $0.digest == key.digest }) {
                    log.add(path, "has the same key as callers[\(earlier.index)] (\(earlier.name)); every caller needs its own key",
                            at: reader.value("key_env") ?? reader.value("key_sha256"))
                    shared = true
                    break
                }
            }
            if let keys, let name, !shared {
                earlierKeys += keys.map { ($0.digest, index, name) }
            }
            if case .value(let subject) = subject {
                if let earlier = earlierSubjects[subject] {
                    log.add(reader.field("cert_subject"), "is the same subject as callers[\(earlier.index)] (\(earlier.name)); "
                        + "every caller needs its own certificate subject", at: reader.value("cert_subject"))
                    shared = true
                } else if let name {
                    earlierSubjects[subject] = (index, name)
                }
            }
            guard let name, let role, let keys, !shared, !pools.isInvalid, !subject.isInvalid else { continue }
            callers.append(CallerConfig(name: name, role: role, pools: pools.value, keys: keys, certificateSubject: subject.value))
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

    /// `cert_subject`: the subject of the client certificate that identifies the caller.
    private func decodeSubject(_ reader: MappingReader, clientCertificates: Bool) -> FieldValue<CertificateSubject> {
        guard case .value(let text) = reader.string("cert_subject") else { return reader.contains("cert_subject") ? .invalid : .absent }
        let subject: CertificateSubject
        do {
            subject = try CertificateSubject(parsing: text)
        } catch {
            log.add(reader.field("cert_subject"), "\"\(text)\" is not a certificate subject (\(error)); write it as "
                + "`openssl x509 -noout -subject -nameopt RFC2253 -in CERT` prints it, e.g. CN=reporting,O=Acme", at: reader.value("cert_subject"))
            return .invalid
        }
        guard clientCertificates else {
            log.add(reader.field("cert_subject"), "needs client certificates: set listen.tls.client_ca_file to the CA that signs them",
                    at: reader.value("cert_subject"))
            return .invalid
        }
        return .value(subject)
    }

    /// The caller's keys: `key_env` and `key_sha256` each name one key or list several (a new key
    /// rolled out beside the old one); none twice. None at all only for a caller known by its
    /// certificate (`subjectGiven`).
    private func decodeKeys(_ reader: MappingReader, subjectGiven: Bool) -> [CallerKey]? {
        guard reader.contains("key_env") || reader.contains("key_sha256") else {
            if subjectGiven { return [] }
            log.add(reader.path, "needs a key: key_env or key_sha256 (either may list several keys, to rotate one), "
                + "or a client certificate's cert_subject", at: reader.node)
            return nil
        }
        var keys: [CallerKey] = []
        var valid = true
        if reader.contains("key_env") {
            if let items = oneOrList(reader, "key_env", expecting: "an environment variable name") {
                for (index, item) in items.enumerated() {
                    guard case .value(let key) = secret(named: item.text, field: item.field, at: item.node) else {
                        valid = false
                        continue
                    }
                    keys.append(CallerKey(digest: KeyDigest(hashing: key), source: .environment(item.text), index: index))
                }
            } else {
                valid = false
            }
        }
        if reader.contains("key_sha256") {
            if let items = oneOrList(reader, "key_sha256", expecting: "a SHA-256 digest") {
                for (index, item) in items.enumerated() {
                    guard let digest = KeyDigest(hex: String(ConfigText.trimmed(item.text))) else {
                        // The length only: this field may hold a key pasted by mistake.
                        log.add(item.field, "must be a SHA-256 digest written as 64 hexadecimal characters "
                            + "(e.g. the output of `printf %s \"$KEY\" | sha256sum`), got \(item.text.count) characters",
                                at: item.node)
                        valid = false
                        continue
                    }
                    keys.append(CallerKey(digest: digest, source: .digest, index: index))
                }
            } else {
                valid = false
            }
        }
        for (position, key) in keys.enumerated() {
            if let earlier = keys[..<position].first(where: { $0.digest == key.digest }) {
                log.add(reader.path, "\(key.label) is the same key as \(earlier.label)", at: reader.node)
                valid = false
            }
        }
        return valid ? keys : nil
    }

    /// One string, or a non-empty list of them, each with the field path a problem names
    /// (`key_env` for one, `key_env[1]` in a list).
    private func oneOrList(_ reader: MappingReader, _ key: String, expecting what: String) -> [(text: String, field: String, node: Node)]? {
        guard let node = reader.value(key) else { return nil }
        guard let sequence = node.sequence else {
            guard case .value(let text) = reader.string(key) else { return nil }
            return [(text, reader.field(key), node)]
        }
        guard !sequence.isEmpty else {
            log.add(reader.field(key), "lists no key; give \(what), or a list of them", at: node)
            return nil
        }
        var items: [(text: String, field: String, node: Node)] = []
        for (index, element) in sequence.enumerated() {
            let field = "\(reader.field(key))[\(index)]"
            guard let scalar = element.scalar, !MappingReader.isNull(element), !ConfigText.trimmed(scalar.string).isEmpty else {
                log.add(field, "must be \(what)", at: element)
                return nil
            }
            items.append((scalar.string, field, element))
        }
        return items
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
