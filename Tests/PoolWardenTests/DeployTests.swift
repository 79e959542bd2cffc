#if canImport(Glibc)
import Glibc
#endif
import Foundation
import PoolWardenHTTP
import PoolWardenRuntime
import TestPostgres
import Testing
import Yams

/// No container engine, systemd or cluster runs here, so the files in deploy/ are read, not run:
/// every port, path, route, binary name, secret name and grace period must agree with the configs,
/// the package and openapi.yaml, and the configs they ship must pass `poolwarden serve --check-config`
/// given exactly the variables the deployment provides. On a thread of its own: several tests wait
/// for `poolwarden serve --check-config` in a blocking waitpid.
@Suite("deploy/: Dockerfile, compose, systemd and Kubernetes files agree with each other", .ownThread)
struct DeployTests {
    // MARK: Dockerfile

    @Test("Dockerfile: builds the poolwarden product, runs it as a non-root user with libpq5, health-checks /healthz")
    func dockerfile() throws {
        let docker = try Dockerfile(text: Deploy.text("deploy/Dockerfile"))
        #expect(docker.stages.count == 2)
        let build = try #require(docker.stages.first)
        let run = try #require(docker.stages.last)

        #expect(build.image.hasPrefix("swift:6."), "build stage image \(build.image)")
        #expect(build.name == "build")
        #expect(build.runs.contains { $0.contains("apt-get install") && $0.contains("libpq-dev") })
        let product = try #require(build.runs.lazy.compactMap { Deploy.firstMatch(#"swift build -c release --product (\S+)"#, in: $0) }.first)
        #expect(product == "poolwarden")
        #expect(try Deploy.executableProducts().contains(product), "Package.swift has no executable product \(product)")
        // Everything COPY takes from the context exists, and every target of the package lives there.
        for source in build.copySources {
            let matches = try FileManager.default.contentsOfDirectory(atPath: Deploy.root).filter { Deploy.glob(source, matches: $0) }
            #expect(!matches.isEmpty, "COPY \(source): nothing in the repository matches")
        }
        for path in try Deploy.targetPaths() {
            #expect(build.copySources.contains { path.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }, "target path \(path) is not copied")
        }
        #expect(build.copySources.contains("Sources") && build.copySources.contains("Tests"))

        #expect(run.image == "debian:bookworm-slim")
        let packages = run.aptPackages
        #expect(packages.isSuperset(of: ["libpq5", "ca-certificates"]), "runtime packages \(packages)")
        #expect(run.copies.contains { $0.from == "build" && $0.destination == "/usr/local/bin/poolwarden" && $0.source.hasSuffix("/poolwarden") })

        // Not root: a numeric uid (so Kubernetes can check runAsNonRoot), created as `poolwarden`.
        let user = try #require(run.value("USER"))
        let uid = try #require(Int(user.split(separator: ":")[0]), "USER \(user) is not numeric")
        #expect(uid != 0)
        #expect(run.runs.contains { $0.contains("useradd") && $0.contains("--uid \(uid)") && $0.contains(" poolwarden") })

        let exposed = try #require(run.value("EXPOSE").flatMap { Int($0) })
        #expect(exposed == 8080)
        let health = try #require(run.value("HEALTHCHECK"))
        let command = try Deploy.jsonArray(try #require(Deploy.firstMatch(#"CMD (\[.*\])"#, in: health)))
        #expect(packages.contains(command[0]), "the HEALTHCHECK runs \(command[0]), which the runtime stage does not install")
        let url = try #require(command.first { $0.hasPrefix("http://") }.flatMap(URL.init(string:)))
        #expect(url.path == "/healthz")
        #expect(url.port == exposed)
        #expect(try Deploy.unauthenticatedRoutes().contains(url.path))

        #expect(try Deploy.jsonArray(#require(run.value("ENTRYPOINT"))) == ["poolwarden"])
        #expect(try Deploy.jsonArray(#require(run.value("CMD"))) == ["serve", "--config", Deploy.configPath])
    }

    @Test("the poolwarden binary next to the tests has serve --config and --check-config")
    func binary() throws {
        let help = try TestCluster.run(Deploy.binary, ["serve", "--help"])
        #expect(help.contains("--config"))
        #expect(help.contains("--check-config"))
    }

    // MARK: compose

    @Test("compose.yaml: postgres:15 with a healthcheck; poolwarden built from the Dockerfile, config mounted, secrets from .env")
    func compose() throws {
        let compose = try Deploy.yamlMapping("deploy/compose.yaml")
        let services = try #require(compose["services"] as? [String: Any])
        let postgres = try #require(services["postgres"] as? [String: Any])
        let warden = try #require(services["poolwarden"] as? [String: Any])

        #expect(postgres["image"] as? String == "postgres:15")
        let healthcheck = try #require(postgres["healthcheck"] as? [String: Any])
        #expect((healthcheck["test"] as? [String])?.joined(separator: " ").contains("pg_isready") == true)
        let dependsOn = try #require(warden["depends_on"] as? [String: Any])
        #expect((dependsOn["postgres"] as? [String: Any])?["condition"] as? String == "service_healthy")

        // Built from deploy/Dockerfile with the repository as context.
        let build = try #require(warden["build"] as? [String: Any])
        let context = URL(fileURLWithPath: Deploy.root + "/deploy").appendingPathComponent(try #require(build["context"] as? String)).standardized
        #expect(context.path == URL(fileURLWithPath: Deploy.root).standardized.path)
        #expect(FileManager.default.fileExists(atPath: context.appendingPathComponent(try #require(build["dockerfile"] as? String)).path))
        if let command = warden["command"] as? [String] {
            #expect(command == ["serve", "--config", Deploy.configPath])
        }

        // The config file is mounted where the image's CMD reads it.
        let volumes = try #require(warden["volumes"] as? [String])
        let mount = try #require(volumes.map { $0.split(separator: ":").map(String.init) }.first { $0.count >= 2 && $0[1] == Deploy.configPath })
        #expect(mount[0] == "./poolwarden.compose.yaml")
        let configText = try Deploy.text("deploy/poolwarden.compose.yaml")
        let names = try Deploy.secretNames(inConfig: configText)
        #expect(names == ["POOLWARDEN_OPS_KEY", "POOLWARDEN_APP_KEY", "REPORT_KEY", "BILLING_PG_PASSWORD"])

        // Every key_env/password_env is passed, from .env (${NAME:?...}: compose stops when it is unset).
        let environment = try #require(warden["environment"] as? [String: String])
        #expect(Set(environment.keys) == names)
        for (name, value) in environment {
            #expect(value.hasPrefix("${\(name):?"), "\(name) is not taken from .env: \(value)")
        }
        // One deploy/.env serves compose.yaml and compose.cluster.yaml, which adds the cluster key.
        let template = try Deploy.envFileNames("deploy/env.example")
        let clusterNames = try Deploy.clusterComposeEnvironment()
        #expect(template == names.union(clusterNames), "deploy/env.example must list exactly the variables compose.yaml and compose.cluster.yaml need")

        // The pool reaches the postgres service as the user, database and password that image creates.
        let config = try ConfigLoader(environment: Deploy.dummies(names)).load(yaml: configText)
        let pool = try #require(config.pools.first)
        let conninfo = Dictionary(uniqueKeysWithValues: pool.conninfo.split(separator: " ").map {
            let pair = $0.split(separator: "=", maxSplits: 1).map(String.init)
            return (pair[0], pair[1])
        })
        #expect(services[conninfo["host"] ?? ""] != nil, "conninfo host \(conninfo["host"] ?? "") is not a compose service")
        let postgresEnvironment = try #require(postgres["environment"] as? [String: String])
        #expect(conninfo["user"] == postgresEnvironment["POSTGRES_USER"])
        #expect(conninfo["dbname"] == postgresEnvironment["POSTGRES_DB"])
        let passwordVariable = try #require(try Deploy.passwordEnv(inConfig: configText).first)
        #expect(postgresEnvironment["POSTGRES_PASSWORD"]?.hasPrefix("${\(passwordVariable):?") == true)

        // Ports: published container port = listen.port = EXPOSE = the HEALTHCHECK's port.
        #expect(config.listen.host == "0.0.0.0")
        #expect(config.listen.port == 8080)
        let ports = try #require(warden["ports"] as? [String])
        #expect(ports.map { $0.split(separator: ":").last.map(String.init) } == ["\(config.listen.port)"])
        let docker = try Dockerfile(text: Deploy.text("deploy/Dockerfile"))
        #expect(docker.stages.last?.value("EXPOSE") == "\(config.listen.port)")

        // docker stop waits longer than the service's own grace period.
        let stopGrace = try #require((warden["stop_grace_period"] as? String).flatMap(Deploy.seconds))
        #expect(Duration.seconds(stopGrace) > config.shutdownGrace)
        #expect(warden["stop_signal"] == nil || warden["stop_signal"] as? String == "SIGTERM")

        // The example tables are mounted from a directory that exists.
        let initdb = try #require((postgres["volumes"] as? [String])?.first { $0.contains("docker-entrypoint-initdb.d") })
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: Deploy.root + "/deploy/" + initdb.split(separator: ":")[0], isDirectory: &isDirectory) && isDirectory.boolValue)
    }

    @Test("poolwarden.compose.yaml passes --check-config with exactly the variables compose passes")
    func composeConfigChecks() throws {
        let compose = try Deploy.yamlMapping("deploy/compose.yaml")
        let warden = try #require((compose["services"] as? [String: Any])?["poolwarden"] as? [String: Any])
        let names = Set(try #require(warden["environment"] as? [String: String]).keys)
        let output = try Deploy.checkConfig(Deploy.root + "/deploy/poolwarden.compose.yaml", environment: Deploy.dummies(names))
        #expect(output.contains("valid"))
    }

    // MARK: systemd

    @Test("poolwarden.service: hardened, keys from the EnvironmentFile, runs poolwarden serve --config, reloads with SIGHUP, stops after shutdown_grace")
    func systemdUnit() throws {
        let unit = try SystemdUnit(text: Deploy.text("deploy/poolwarden.service"))
        let expected: [String: String] = [
            "DynamicUser": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "NoNewPrivileges": "yes",
            "PrivateTmp": "yes", "PrivateDevices": "yes", "CapabilityBoundingSet": "", "SystemCallFilter": "@system-service",
            "KillSignal": "SIGTERM", "Restart": "on-failure", "EnvironmentFile": "/etc/poolwarden/poolwarden.env",
            "ExecReload": "/bin/kill -HUP $MAINPID",
        ]
        for (key, value) in expected.sorted(by: { $0.key < $1.key }) {
            #expect(unit.values("Service", key).contains(value), "[Service] \(key)=\(value); found \(unit.values("Service", key))")
        }
        #expect(Set(unit.values("Service", "RestrictAddressFamilies").flatMap { $0.split(separator: " ").map(String.init) })
            == ["AF_INET", "AF_INET6", "AF_UNIX"])
        let execStart = try #require(unit.values("Service", "ExecStart").last)
        let argv = execStart.split(separator: " ").map(String.init)
        #expect(argv.count == 4 && argv[0].hasSuffix("/poolwarden") && argv[1...] == ["serve", "--config", Deploy.configPath])
        #expect(argv.first == "/usr/local/bin/poolwarden")
        #expect(unit.values("Install", "WantedBy").contains("multi-user.target"))

        // The EnvironmentFile template provides exactly what the example config names, and
        // TimeoutStopSec lets its shutdown_grace run out.
        let configText = try Deploy.text("deploy/poolwarden.example.yaml")
        let names = try Deploy.secretNames(inConfig: configText)
        #expect(try Deploy.envFileNames("deploy/poolwarden.env.example") == names)
        let config = try ConfigLoader(environment: Deploy.dummies(names)).load(yaml: configText)
        let stop = try #require(unit.values("Service", "TimeoutStopSec").last.flatMap(Deploy.seconds))
        #expect(Duration.seconds(stop) > config.shutdownGrace)
        let output = try Deploy.checkConfig(Deploy.root + "/deploy/poolwarden.example.yaml", environment: Deploy.dummies(names))
        #expect(output.contains("valid"))
    }

    // MARK: Kubernetes

    @Test("Kubernetes: probes on /readyz and /healthz, ports agree, grace above shutdown_grace, locked-down pod")
    func kubernetes() throws {
        let manifests = try Deploy.kubernetesManifests()
        let deployment = try #require(manifests.first { $0["kind"] as? String == "Deployment" })
        let service = try #require(manifests.first { $0["kind"] as? String == "Service" })
        let configMap = try #require(manifests.first { $0["kind"] as? String == "ConfigMap" })
        let secret = try #require(manifests.first { $0["kind"] as? String == "Secret" })

        let spec = try #require(deployment["spec"] as? [String: Any])
        #expect(spec["replicas"] as? Int == 1)
        #expect((spec["strategy"] as? [String: Any])?["type"] as? String == "Recreate")
        let template = try #require(spec["template"] as? [String: Any])
        let labels = try #require((template["metadata"] as? [String: Any])?["labels"] as? [String: String])
        #expect(((spec["selector"] as? [String: Any])?["matchLabels"] as? [String: String]).map { $0.allSatisfy { labels[$0.key] == $0.value } } == true)
        let pod = try #require(template["spec"] as? [String: Any])
        let containers = try #require(pod["containers"] as? [[String: Any]])
        #expect(containers.count == 1)
        let container = containers[0]
        #expect(container["args"] as? [String] == ["serve", "--config", Deploy.configPath])

        // The config comes from the ConfigMap, mounted where --config reads it.
        let configText = try #require((configMap["data"] as? [String: String])?["poolwarden.yaml"])
        let configMapName = try #require((configMap["metadata"] as? [String: Any])?["name"] as? String)
        let volumes = try #require(pod["volumes"] as? [[String: Any]])
        let configVolume = try #require(volumes.first { ($0["configMap"] as? [String: Any])?["name"] as? String == configMapName })
        let mounts = try #require(container["volumeMounts"] as? [[String: Any]])
        let mount = try #require(mounts.first { $0["name"] as? String == configVolume["name"] as? String })
        let items = (configVolume["configMap"] as? [String: Any])?["items"] as? [[String: String]]
        let fileName = items?.first { $0["key"] == "poolwarden.yaml" }?["path"] ?? "poolwarden.yaml"
        #expect("\(mount["mountPath"] as? String ?? "")/\(fileName)" == Deploy.configPath)

        // Secrets: every key_env/password_env of the config is a key of the Secret the pod takes its
        // environment from.
        let secretName = try #require((secret["metadata"] as? [String: Any])?["name"] as? String)
        let envFrom = container["envFrom"] as? [[String: Any]] ?? []
        #expect(envFrom.contains { ($0["secretRef"] as? [String: Any])?["name"] as? String == secretName })
        let secretValues = try #require(secret["stringData"] as? [String: String])
        let names = try Deploy.secretNames(inConfig: configText)
        #expect(names.isSubset(of: Set(secretValues.keys)), "the Secret lacks \(names.subtracting(secretValues.keys).sorted())")
        #expect(secretValues.values.allSatisfy { $0.hasPrefix("PLACEHOLDER") }, "the Secret's values must be marked placeholders")
        let config = try ConfigLoader(environment: secretValues).load(yaml: configText)

        // Ports: listen.port = containerPort = Service targetPort = the probes' port.
        let ports = try #require(container["ports"] as? [[String: Any]])
        func containerPort(_ reference: Any?) -> Int? {
            if let number = reference as? Int { return ports.contains { $0["containerPort"] as? Int == number } ? number : nil }
            return ports.first { $0["name"] as? String == reference as? String }?["containerPort"] as? Int
        }
        #expect(ports.map { $0["containerPort"] as? Int } == [config.listen.port])
        #expect(config.listen.host == "0.0.0.0")
        let serviceSpec = try #require(service["spec"] as? [String: Any])
        let servicePorts = try #require(serviceSpec["ports"] as? [[String: Any]])
        #expect(servicePorts.count == 1)
        #expect(containerPort(servicePorts[0]["targetPort"]) == config.listen.port)
        let serviceSelector = try #require(serviceSpec["selector"] as? [String: String])
        #expect(serviceSelector.allSatisfy { labels[$0.key] == $0.value })

        // Probes: real routes that need no key.
        let routes = try Deploy.unauthenticatedRoutes()
        for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
            let get = try #require((container[probe] as? [String: Any])?["httpGet"] as? [String: Any], "\(probe) has no httpGet")
            #expect(get["path"] as? String == path, "\(probe)")
            #expect(routes.contains(path))
            #expect(containerPort(get["port"]) == config.listen.port, "\(probe) port")
        }

        // Kubernetes waits longer than the service's own grace period before SIGKILL.
        let grace = try #require(pod["terminationGracePeriodSeconds"] as? Int)
        #expect(Duration.seconds(grace) > config.shutdownGrace)

        // Locked down.
        let podSecurity = pod["securityContext"] as? [String: Any] ?? [:]
        let security = try #require(container["securityContext"] as? [String: Any])
        #expect(security["runAsNonRoot"] as? Bool == true || podSecurity["runAsNonRoot"] as? Bool == true)
        #expect(security["readOnlyRootFilesystem"] as? Bool == true)
        #expect(security["allowPrivilegeEscalation"] as? Bool == false)
        #expect(((security["capabilities"] as? [String: Any])?["drop"] as? [String]) == ["ALL"])
        let docker = try Dockerfile(text: Deploy.text("deploy/Dockerfile"))
        let imageUser = docker.stages.last?.value("USER")?.split(separator: ":").first.map(String.init)
        #expect((podSecurity["runAsUser"] as? Int).map(String.init) == imageUser)
        let resources = try #require(container["resources"] as? [String: Any])
        #expect((resources["requests"] as? [String: Any])?["memory"] != nil)
        #expect((resources["limits"] as? [String: Any])?["memory"] != nil)

        // kustomization.yaml applies everything but the placeholder Secret.
        let kustomization = try Deploy.yamlMapping("deploy/kubernetes/kustomization.yaml")
        let resourcesListed = try #require(kustomization["resources"] as? [String])
        #expect(Set(resourcesListed) == ["configmap.yaml", "deployment.yaml", "service.yaml"])
    }

    @Test("the ConfigMap's config passes --check-config with exactly the Secret's variables")
    func configMapChecks() throws {
        let manifests = try Deploy.kubernetesManifests()
        let configMap = try #require(manifests.first { $0["kind"] as? String == "ConfigMap" })
        let secret = try #require(manifests.first { $0["kind"] as? String == "Secret" })
        let configText = try #require((configMap["data"] as? [String: String])?["poolwarden.yaml"])
        let secretValues = try #require(secret["stringData"] as? [String: String])
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pw-configmap-\(UUID().uuidString).yaml").path
        try configText.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let output = try Deploy.checkConfig(file, environment: secretValues)
        #expect(output.contains("valid"))
        // And without the Secret it is refused: the variables are really needed.
        #expect(throws: TestClusterError.self) { try Deploy.checkConfig(file, environment: [:]) }
    }
}

// MARK: - Reading the files

enum Deploy {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let configPath = "/etc/poolwarden/poolwarden.yaml"

    /// The `poolwarden` binary next to the test bundle in the build directory.
    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("poolwarden").path
    }

    static func text(_ relativePath: String) throws -> String {
        try String(contentsOfFile: root + "/" + relativePath, encoding: .utf8)
    }

    static func yamlMapping(_ relativePath: String) throws -> [String: Any] {
        try #require(try Yams.load(yaml: text(relativePath)) as? [String: Any], "\(relativePath) is not a YAML mapping")
    }

    /// Every document of every file in `relativeDirectory` (deploy/kubernetes/, not its
    /// subdirectories) except kustomization.yaml.
    static func kubernetesManifests(_ relativeDirectory: String = "deploy/kubernetes") throws -> [[String: Any]] {
        let directory = root + "/" + relativeDirectory
        var manifests: [[String: Any]] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        where file.hasSuffix(".yaml") && file != "kustomization.yaml" {
            for document in try Yams.load_all(yaml: String(contentsOfFile: directory + "/" + file, encoding: .utf8)) {
                let manifest = try #require(document as? [String: Any], "\(file): a document is not a mapping")
                #expect(manifest["apiVersion"] is String && manifest["kind"] is String, "\(file)")
                manifests.append(manifest)
            }
        }
        return manifests
    }

    /// The key_env and password_env names of a PoolWarden config.
    static func secretNames(inConfig yaml: String) throws -> Set<String> {
        let config = try #require(try Yams.load(yaml: yaml) as? [String: Any])
        let callers = (config["callers"] as? [[String: Any]] ?? []).compactMap { $0["key_env"] as? String }
        return Set(callers).union(try passwordEnv(inConfig: yaml))
    }

    static func passwordEnv(inConfig yaml: String) throws -> [String] {
        let config = try #require(try Yams.load(yaml: yaml) as? [String: Any])
        return (config["pools"] as? [[String: Any]] ?? []).compactMap { $0["password_env"] as? String }
    }

    /// NAME=value lines of an env file (comments and blank lines skipped).
    static func envFileNames(_ relativePath: String) throws -> Set<String> {
        Set(try text(relativePath).split(separator: "\n").compactMap { line -> String? in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#"), let equals = trimmed.firstIndex(of: "=") else { return nil }
            return String(trimmed[..<equals])
        })
    }

    /// A distinct non-empty value per name (caller keys must differ).
    static func dummies(_ names: Set<String>) -> [String: String] {
        Dictionary(uniqueKeysWithValues: names.map { ($0, "dummy-value-for-\($0)") })
    }

    /// Runs `poolwarden serve --check-config FILE` with exactly `environment` (plus PATH); throws
    /// with the output when the config is refused.
    @discardableResult
    static func checkConfig(_ file: String, environment: [String: String]) throws -> String {
        let variables = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return try TestCluster.run("/usr/bin/env", ["-i", "PATH=/usr/bin:/bin"] + variables + [binary, "serve", "--check-config", file])
    }

    /// The executable products of Package.swift.
    static func executableProducts() throws -> Set<String> {
        let manifest = try text("Package.swift")
        return Set(matches(#"\.executable\(\s*name:\s*"([^"]+)""#, in: manifest))
    }

    /// Every `path:` a target of Package.swift sets.
    static func targetPaths() throws -> [String] {
        matches(#"path:\s*"([^"]+)""#, in: try text("Package.swift"))
    }

    /// Paths of openapi.yaml whose GET needs no authentication (`security: []`).
    static func unauthenticatedRoutes() throws -> Set<String> {
        let spec = try yamlMapping("openapi/openapi.yaml")
        let paths = try #require(spec["paths"] as? [String: Any])
        return Set(paths.compactMap { path, item in
            guard let get = (item as? [String: Any])?["get"] as? [String: Any], let security = get["security"] as? [Any], security.isEmpty else { return nil }
            return path
        })
    }

    /// `30`, `30s`, `2min`, `1m30s` as seconds.
    static func seconds(_ text: String) -> Int? {
        if let plain = Int(text) { return plain }
        var total = 0
        var matched = ""
        for match in matches(#"(\d+)(min|m|s|h)"#, in: text, groups: [1, 2]).chunked(2) {
            guard let number = Int(match[0]) else { return nil }
            total += number * ["s": 1, "m": 60, "min": 60, "h": 3600][match[1]]!
            matched += match[0] + match[1]
        }
        return matched == text && !matched.isEmpty ? total : nil
    }

    static func jsonArray(_ text: String) throws -> [String] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String], "not a JSON array of strings: \(text)")
    }

    static func glob(_ pattern: String, matches name: String) -> Bool {
        fnmatch(pattern, name, 0) == 0
    }

    static func firstMatch(_ pattern: String, in text: String) -> String? {
        matches(pattern, in: text).first
    }

    static func matches(_ pattern: String, in text: String, groups: [Int] = [1]) -> [String] {
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return [] }
        let range = NSRange(text.startIndex..., in: text)
        return regex.matches(in: text, range: range).flatMap { match in
            groups.compactMap { Range(match.range(at: $0), in: text).map { String(text[$0]) } }
        }
    }
}

extension Array {
    fileprivate func chunked(_ size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}

/// A Dockerfile as instructions per stage: continuation lines joined, comments dropped.
struct Dockerfile {
    struct Copy {
        var from: String?
        var source: String
        var destination: String
    }

    struct Stage {
        var image: String
        var name: String?
        var instructions: [(keyword: String, value: String)] = []

        var runs: [String] { instructions.filter { $0.keyword == "RUN" }.map(\.value) }
        func value(_ keyword: String) -> String? { instructions.last { $0.keyword == keyword }?.value }

        var copies: [Copy] {
            instructions.filter { $0.keyword == "COPY" }.map { instruction in
                var words = instruction.value.split(separator: " ").map(String.init)
                var from: String?
                while let first = words.first, first.hasPrefix("--") {
                    if first.hasPrefix("--from=") { from = String(first.dropFirst("--from=".count)) }
                    words.removeFirst()
                }
                return Copy(from: from, source: words.dropLast().joined(separator: " "), destination: words.last ?? "")
            }
        }

        /// What COPY takes from the build context (each source of each COPY without --from).
        var copySources: [String] {
            instructions.filter { $0.keyword == "COPY" && !$0.value.contains("--from=") }.flatMap { instruction in
                instruction.value.split(separator: " ").dropLast().filter { !$0.hasPrefix("--") }.map(String.init)
            }
        }

        /// Packages of every `apt-get install` in the stage.
        var aptPackages: Set<String> {
            Set(runs.flatMap { run in
                run.components(separatedBy: "&&").filter { $0.contains("apt-get install") }.flatMap { command in
                    command.split(separator: " ").drop { $0 != "install" }.dropFirst().filter { !$0.hasPrefix("-") }.map(String.init)
                }
            })
        }
    }

    var arguments: [String: String] = [:]
    var stages: [Stage] = []

    init(text: String) throws {
        var logical: [String] = []
        var current = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("#") { continue }
            if trimmed.hasSuffix("\\") {
                current += trimmed.dropLast() + " "
                continue
            }
            current += trimmed
            if !current.trimmingCharacters(in: .whitespaces).isEmpty { logical.append(current) }
            current = ""
        }
        for line in logical {
            let keyword = String(line.prefix { !$0.isWhitespace }).uppercased()
            let value = line.dropFirst(keyword.count).split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            switch keyword {
            case "ARG" where stages.isEmpty:
                let pair = value.split(separator: "=", maxSplits: 1).map(String.init)
                arguments[pair[0]] = pair.count > 1 ? pair[1] : ""
            case "FROM":
                let words = value.split(separator: " ").map(String.init)
                var image = words[0]
                for (name, argument) in arguments { image = image.replacingOccurrences(of: "${\(name)}", with: argument) }
                let name = words.count == 3 && words[1].uppercased() == "AS" ? words[2] : nil
                stages.append(Stage(image: image, name: name))
            default:
                guard !stages.isEmpty else { throw HarnessError("Dockerfile: \(keyword) before FROM") }
                stages[stages.count - 1].instructions.append((keyword, value))
            }
        }
    }
}

/// A systemd unit file: `[Section]` and `Key=value` lines (a key may repeat).
struct SystemdUnit {
    var entries: [(section: String, key: String, value: String)] = []

    init(text: String) throws {
        var section = ""
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed.hasPrefix(";") { continue }
            if trimmed.hasPrefix("[") && trimmed.hasSuffix("]") {
                section = String(trimmed.dropFirst().dropLast())
                continue
            }
            guard let equals = trimmed.firstIndex(of: "=") else { throw HarnessError("not a Key=value line: \(trimmed)") }
            entries.append((section, String(trimmed[..<equals]), String(trimmed[trimmed.index(after: equals)...])))
        }
    }

    func values(_ section: String, _ key: String) -> [String] {
        entries.filter { $0.section == section && $0.key == key }.map(\.value)
    }
}
