/// What `PGConnection.connect` needs: a libpq conninfo string or `postgresql://` URI, plus keywords
/// kept apart from it so that a password from the environment never has to be spliced into text.
public struct PGConnectOptions: Sendable {
    /// `host=db1 dbname=app user=app` or `postgresql://app@db1/app`: every libpq keyword works.
    public var conninfo: String
    /// Overrides any password in `conninfo`.
    public var password: String?
    /// Overrides any application_name in `conninfo`.
    public var applicationName: String?
    /// The whole connect, every host and retry included; when nil, the conninfo's `connect_timeout`
    /// or else ten seconds.
    public var connectTimeout: Duration?
    /// Further libpq keywords (`sslmode`, `options`, ...); they override the conninfo's.
    public var parameters: [String: String]

    public init(
        conninfo: String,
        password: String? = nil,
        applicationName: String? = nil,
        connectTimeout: Duration? = nil,
        parameters: [String: String] = [:]
    ) {
        self.conninfo = conninfo
        self.password = password
        self.applicationName = applicationName
        self.connectTimeout = connectTimeout
        self.parameters = parameters
    }

    static let defaultConnectTimeout: Duration = .seconds(10)

    /// Keyword/value pairs in libpq's order of precedence: the conninfo first (expanded by libpq
    /// as `dbname`), then everything that must override it.
    var keywordValues: [(String, String)] {
        var pairs: [(String, String)] = [("dbname", conninfo)]
        for key in parameters.keys.sorted() { pairs.append((key, parameters[key]!)) }
        if let applicationName { pairs.append(("application_name", applicationName)) }
        if let password { pairs.append(("password", password)) }
        return pairs
    }

    /// Text that must never be shown: the separate password, and the value of every secret
    /// keyword (`password`, `sslpassword`, ...) in the conninfo or the parameters.
    var secrets: [String] {
        var secrets: [String] = []
        if let password { secrets.append(password) }
        secrets += PGConninfo.secretValues(in: conninfo)
        for keyword in PGConninfo.secretKeywords.sorted() {
            if let explicit = parameters[keyword], !explicit.isEmpty { secrets.append(explicit) }
        }
        return secrets
    }
}
