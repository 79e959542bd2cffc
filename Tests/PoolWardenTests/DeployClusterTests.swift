import Foundation
import PoolWardenRuntime
import TestPostgres
import Testing
import Yams

/// The replica deployments (kubernetes/cluster/, compose.cluster.yaml): their files agree with each
/// other, with the single-pod files they share a Secret and a security posture with, and with the
/// config the replicas load. Part of DeployTests, so on its thread too (--check-config waits).
extension DeployTests {
    // MARK: Kubernetes, three replicas

    @Test("kubernetes/cluster: 3-replica StatefulSet, its headless Service is the config's peers_dns, a PDB over its pods, the single pod's probes and lock-down")
    func kubernetesCluster() throws {
        let manifests = try Deploy.kubernetesManifests(Deploy.clusterDirectory)
        func only(_ kind: String) throws -> [String: Any] {
            let found = manifests.filter { $0["kind"] as? String == kind }
            #expect(found.count == 1, "\(found.count) \(kind)s")
            return try #require(found.first, "no \(kind)")
        }
        let set = try only("StatefulSet")
        let configMap = try only("ConfigMap")
        let budget = try only("PodDisruptionBudget")
        let services = manifests.filter { $0["kind"] as? String == "Service" }
        #expect(services.count == 2)
        let headless = try #require(services.first { Deploy.spec($0)["clusterIP"] as? String == "None" }, "no headless Service")
        let front = try #require(services.first { Deploy.spec($0)["clusterIP"] as? String != "None" }, "no Service for callers")

        // The StatefulSet: three replicas, started together, named through the headless Service.
        let setName = try #require(Deploy.name(set))
        let spec = Deploy.spec(set)
        let replicas = try #require(spec["replicas"] as? Int)
        #expect(replicas == 3)
        #expect(spec["podManagementPolicy"] as? String == "Parallel")
        let headlessName = try #require(Deploy.name(headless))
        #expect(spec["serviceName"] as? String == headlessName, "pods get <pod>.<service> DNS names only from their serviceName")
        #expect(Deploy.spec(headless)["publishNotReadyAddresses"] as? Bool == true)
        let template = try #require(spec["template"] as? [String: Any])
        let labels = try #require((template["metadata"] as? [String: Any])?["labels"] as? [String: String])
        let setSelector = try #require((spec["selector"] as? [String: Any])?["matchLabels"] as? [String: String])
        #expect(Deploy.selects(setSelector, labels))
        let pod = try #require(template["spec"] as? [String: Any])
        let containers = try #require(pod["containers"] as? [[String: Any]])
        #expect(containers.count == 1)
        let container = containers[0]
        #expect(container["args"] as? [String] == ["serve", "--config", Deploy.configPath])

        // Both Services and the PDB select exactly these pods' labels.
        for service in services {
            let selector = try #require(Deploy.spec(service)["selector"] as? [String: String])
            #expect(Deploy.selects(selector, labels), "Service \(Deploy.name(service) ?? "")")
        }
        let budgetSpec = Deploy.spec(budget)
        #expect(budget["apiVersion"] as? String == "policy/v1")
        let budgetSelector = try #require((budgetSpec["selector"] as? [String: Any])?["matchLabels"] as? [String: String])
        #expect(Deploy.selects(budgetSelector, labels))
        let allowedDown = (budgetSpec["maxUnavailable"] as? Int) ?? (budgetSpec["minAvailable"] as? Int).map { replicas - $0 }
        #expect(allowedDown == 1, "the PDB lets \(allowedDown.map(String.init) ?? "?") of \(replicas) replicas go at once")

        // Secrets: the single pod's Secret (callers, passwords) and the cluster key's, both whole.
        let secrets = try Deploy.clusterSecrets()
        let envFrom = try #require(container["envFrom"] as? [[String: Any]])
        #expect(Set(envFrom.compactMap { ($0["secretRef"] as? [String: Any])?["name"] as? String }) == Set(secrets.names))
        #expect(secrets.values.values.allSatisfy { $0.hasPrefix("PLACEHOLDER") }, "the Secrets' values must be marked placeholders")

        // The config: mounted where --config reads it, and loads as replica <set>-1 (a pod's host
        // name; the loader takes it from the machine's, which here is no pod's).
        let configMapName = try #require(Deploy.name(configMap))
        let configText = try #require((configMap["data"] as? [String: String])?["poolwarden.yaml"])
        let volumes = try #require(pod["volumes"] as? [[String: Any]])
        let configVolume = try #require(volumes.first { ($0["configMap"] as? [String: Any])?["name"] as? String == configMapName })
        let mounts = try #require(container["volumeMounts"] as? [[String: Any]])
        let mount = try #require(mounts.first { $0["name"] as? String == configVolume["name"] as? String })
        let items = (configVolume["configMap"] as? [String: Any])?["items"] as? [[String: String]]
        let fileName = items?.first { $0["key"] == "poolwarden.yaml" }?["path"] ?? "poolwarden.yaml"
        #expect("\(mount["mountPath"] as? String ?? "")/\(fileName)" == Deploy.configPath)
        let written = try #require((try Yams.load(yaml: configText) as? [String: Any])?["cluster"] as? [String: Any])
        #expect(written["replica"] == nil, "one config for every pod: each takes its name from its host name")
        let needed = try Deploy.secretNames(inConfig: configText).union([written["key_env"] as? String ?? ""])
        #expect(needed.isSubset(of: Set(secrets.values.keys)), "the Secrets lack \(needed.subtracting(secrets.values.keys).sorted())")
        let config = try ConfigLoader(environment: secrets.values).load(yaml: Deploy.naming(replica: "\(setName)-1", in: configText))
        let cluster = try #require(config.cluster)
        #expect(cluster.replica == "\(setName)-1")
        #expect(cluster.keyVariable == "POOLWARDEN_CLUSTER_KEY")
        let dns = try #require(cluster.peersDNS)
        #expect(dns.service == headlessName)
        #expect(dns.replicas == replicas)

        // Ports: listen.port = containerPort = both Services' targetPort = the probes' port =
        // peers_dns.port (peers reach the pod's own DNS name, so the container's port directly).
        let ports = try #require(container["ports"] as? [[String: Any]])
        func containerPort(_ reference: Any?) -> Int? {
            if let number = reference as? Int { return ports.contains { $0["containerPort"] as? Int == number } ? number : nil }
            return ports.first { $0["name"] as? String == reference as? String }?["containerPort"] as? Int
        }
        #expect(ports.map { $0["containerPort"] as? Int } == [config.listen.port])
        #expect(config.listen.host == "0.0.0.0")
        #expect(dns.port == config.listen.port)
        for service in services {
            let servicePorts = try #require(Deploy.spec(service)["ports"] as? [[String: Any]])
            #expect(servicePorts.map { containerPort($0["targetPort"]) } == [config.listen.port], "Service \(Deploy.name(service) ?? "")")
        }
        #expect(Deploy.name(front) == "poolwarden", "callers keep the single pod's address")
        #expect(cluster.peers.map(\.name) == (0..<replicas).map { "\(setName)-\($0)" })
        #expect(cluster.peers.map(\.url) == (0..<replicas).map { "http://\(setName)-\($0).\(headlessName):\(config.listen.port)" })

        // Probes: real routes that need no key; readiness is /readyz (false without a coordination session).
        let routes = try Deploy.unauthenticatedRoutes()
        for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
            let get = try #require((container[probe] as? [String: Any])?["httpGet"] as? [String: Any], "\(probe) has no httpGet")
            #expect(get["path"] as? String == path, "\(probe)")
            #expect(routes.contains(path))
            #expect(containerPort(get["port"]) == config.listen.port, "\(probe) port")
        }
        let grace = try #require(pod["terminationGracePeriodSeconds"] as? Int)
        #expect(Duration.seconds(grace) > config.shutdownGrace)

        // One replica per node where possible.
        let antiAffinity = (pod["affinity"] as? [String: Any])?["podAntiAffinity"] as? [String: Any]
        let preferred = try #require(antiAffinity?["preferredDuringSchedulingIgnoredDuringExecution"] as? [[String: Any]])
        #expect(preferred.contains { term in
            let affinity = term["podAffinityTerm"] as? [String: Any]
            let selector = (affinity?["labelSelector"] as? [String: Any])?["matchLabels"] as? [String: String]
            return affinity?["topologyKey"] as? String == "kubernetes.io/hostname" && selector.map { Deploy.selects($0, labels) } == true
        })

        // The same image, security contexts and resources as the single pod.
        let single = try #require(try Deploy.kubernetesManifests().first { $0["kind"] as? String == "Deployment" })
        let singlePod = try #require((Deploy.spec(single)["template"] as? [String: Any])?["spec"] as? [String: Any])
        let singleContainer = try #require((singlePod["containers"] as? [[String: Any]])?.first)
        #expect(container["image"] as? String == singleContainer["image"] as? String)
        #expect(try Deploy.json(pod["securityContext"]) == Deploy.json(singlePod["securityContext"]), "pod securityContext")
        for key in ["securityContext", "resources"] {
            #expect(try Deploy.json(container[key]) == Deploy.json(singleContainer[key]), "container \(key)")
        }

        // kustomization.yaml applies every file here but the placeholder Secret.
        let kustomization = try Deploy.yamlMapping(Deploy.clusterDirectory + "/kustomization.yaml")
        let listed = try #require(kustomization["resources"] as? [String])
        let files = try FileManager.default.contentsOfDirectory(atPath: Deploy.root + "/" + Deploy.clusterDirectory)
            .filter { $0.hasSuffix(".yaml") && $0 != "kustomization.yaml" && $0 != "secret.yaml" }
        #expect(Set(listed) == Set(files))
        #expect(listed.count == files.count)
    }

    @Test("kubernetes/cluster: the ConfigMap's config passes --check-config as each pod, with exactly the two Secrets' variables")
    func kubernetesClusterConfigChecks() throws {
        let manifests = try Deploy.kubernetesManifests(Deploy.clusterDirectory)
        let configMap = try #require(manifests.first { $0["kind"] as? String == "ConfigMap" })
        let set = try #require(manifests.first { $0["kind"] as? String == "StatefulSet" })
        let setName = try #require(Deploy.name(set))
        let replicas = try #require(Deploy.spec(set)["replicas"] as? Int)
        let configText = try #require((configMap["data"] as? [String: String])?["poolwarden.yaml"])
        let secrets = try Deploy.clusterSecrets()
        for ordinal in 0..<replicas {
            let file = try Deploy.temporaryConfig(Deploy.naming(replica: "\(setName)-\(ordinal)", in: configText))
            defer { try? FileManager.default.removeItem(atPath: file) }
            #expect(try Deploy.checkConfig(file, environment: secrets.values).contains("valid"))
            // The cluster key is really needed.
            var withoutKey = secrets.values
            withoutKey["POOLWARDEN_CLUSTER_KEY"] = nil
            #expect(throws: TestClusterError.self) { try Deploy.checkConfig(file, environment: withoutKey) }
        }
    }

    // MARK: compose, three replicas

    @Test("compose.cluster.yaml: three replicas named by their host names, each listed in peers at its service's address, one postgres")
    func composeCluster() throws {
        let compose = try Deploy.yamlMapping("deploy/compose.cluster.yaml")
        let services = try #require(compose["services"] as? [String: Any])
        let postgres = try #require(services["postgres"] as? [String: Any])
        #expect(postgres["image"] as? String == "postgres:15")
        #expect(((postgres["healthcheck"] as? [String: Any])?["test"] as? [String])?.joined(separator: " ").contains("pg_isready") == true)
        let replicas = services.filter { $0.key != "postgres" }.sorted { $0.key < $1.key }
        #expect(replicas.map(\.key) == ["poolwarden-0", "poolwarden-1", "poolwarden-2"])

        let configText = try Deploy.text("deploy/poolwarden.cluster.yaml")
        let names = try Deploy.clusterComposeEnvironment()
        var publishedPorts: Set<String> = []
        let postgresEnvironment = try #require(postgres["environment"] as? [String: String])
        for (serviceName, value) in replicas {
            let warden = try #require(value as? [String: Any])
            // The replica's name is its host name, which the default of cluster.replica reads.
            let hostname = try #require(warden["hostname"] as? String, "\(serviceName) sets no hostname")
            #expect(hostname == serviceName)

            // Built from deploy/Dockerfile, started once postgres is healthy, config mounted where CMD reads it.
            let build = try #require(warden["build"] as? [String: Any])
            let context = URL(fileURLWithPath: Deploy.root + "/deploy").appendingPathComponent(try #require(build["context"] as? String)).standardized
            #expect(context.path == URL(fileURLWithPath: Deploy.root).standardized.path)
            #expect(FileManager.default.fileExists(atPath: context.appendingPathComponent(try #require(build["dockerfile"] as? String)).path))
            #expect(warden["command"] as? [String] == ["serve", "--config", Deploy.configPath])
            #expect(((warden["depends_on"] as? [String: Any])?["postgres"] as? [String: Any])?["condition"] as? String == "service_healthy")
            let volumes = try #require(warden["volumes"] as? [String])
            #expect(volumes.map { $0.split(separator: ":").map(String.init) }.contains { $0.count >= 2 && $0[0] == "./poolwarden.cluster.yaml" && $0[1] == Deploy.configPath })

            // Every key_env/password_env, the cluster key's included, from .env.
            let environment = try #require(warden["environment"] as? [String: String])
            for (name, value) in environment {
                #expect(value.hasPrefix("${\(name):?"), "\(serviceName): \(name) is not taken from .env: \(value)")
            }
            let config = try ConfigLoader(environment: Deploy.dummies(names)).load(yaml: Deploy.naming(replica: hostname, in: configText))
            let cluster = try #require(config.cluster)
            let needed = try Deploy.secretNames(inConfig: configText).union([cluster.keyVariable])
            #expect(Set(environment.keys) == needed)

            // Every replica is a peer, at its service's name (compose's DNS) and the port it listens on.
            #expect(cluster.replica == hostname)
            #expect(cluster.peers.map(\.name) == replicas.map(\.key))
            for peer in cluster.peers {
                let url = try #require(URL(string: peer.url))
                #expect(url.host == peer.name && services[peer.name] != nil, "peer \(peer.name) at \(peer.url)")
                #expect(url.port == config.listen.port)
            }
            #expect(config.listen.host == "0.0.0.0")
            let ports = try #require(warden["ports"] as? [String])
            #expect(ports.map { $0.split(separator: ":").last.map(String.init) } == ["\(config.listen.port)"])
            publishedPorts.formUnion(ports.map { $0.split(separator: ":").dropLast().joined(separator: ":") })

            // The pool and the slots reach the postgres service as the user its image creates; the
            // coordination database is the one every cluster has. Its default max_connections, 100,
            // holds the budget and one coordination session per replica.
            let pool = try #require(config.pools.first)
            #expect(pool.conninfo.contains("host=postgres "))
            #expect(pool.conninfo.contains("user=\(postgresEnvironment["POSTGRES_USER"] ?? "?")"))
            #expect(pool.conninfo.contains("dbname=\(postgresEnvironment["POSTGRES_DB"] ?? "?")"))
            #expect(cluster.coordinationDatabase == "postgres")
            let serverBudget = try #require(config.servers.first)
            #expect(serverBudget.maxConnections + replicas.count <= 100)

            // Stopped after shutdown_grace, locked down as compose.yaml's single replica.
            let stopGrace = try #require((warden["stop_grace_period"] as? String).flatMap(Deploy.seconds))
            #expect(Duration.seconds(stopGrace) > config.shutdownGrace)
            #expect(warden["read_only"] as? Bool == true)
            #expect(warden["cap_drop"] as? [String] == ["ALL"])
            #expect(warden["security_opt"] as? [String] == ["no-new-privileges:true"])
        }
        #expect(publishedPorts.count == replicas.count, "each replica on a host port of its own: \(publishedPorts.sorted())")
    }

    @Test("poolwarden.cluster.yaml passes --check-config as each replica with exactly the variables compose passes")
    func composeClusterConfigChecks() throws {
        let names = try Deploy.clusterComposeEnvironment()
        let configText = try Deploy.text("deploy/poolwarden.cluster.yaml")
        for replica in ["poolwarden-0", "poolwarden-1", "poolwarden-2"] {
            let file = try Deploy.temporaryConfig(Deploy.naming(replica: replica, in: configText))
            defer { try? FileManager.default.removeItem(atPath: file) }
            #expect(try Deploy.checkConfig(file, environment: Deploy.dummies(names)).contains("valid"))
        }
    }

    @Test("deploy/README's Replicas section says how to create the cluster key, deploy, and see the whole cluster")
    func replicasReadme() throws {
        let readme = try Deploy.text("deploy/README.md")
        let section = try #require(readme.components(separatedBy: "\n## Replicas").dropFirst().first, "no ## Replicas section")
        for phrase in [
            "openssl rand -base64 32", "kubectl apply -k deploy/kubernetes/cluster", "compose.cluster.yaml",
            "coordination_database", "pg_try_advisory_lock", "replica_lost", "/readyz", "PodDisruptionBudget",
            "poolwarden status --cluster", "scope=cluster",
        ] {
            #expect(section.contains(phrase), "the Replicas section lacks \(phrase)")
        }
    }
}

extension Deploy {
    static let clusterDirectory = "deploy/kubernetes/cluster"

    static func name(_ manifest: [String: Any]) -> String? {
        (manifest["metadata"] as? [String: Any])?["name"] as? String
    }

    static func spec(_ manifest: [String: Any]) -> [String: Any] {
        manifest["spec"] as? [String: Any] ?? [:]
    }

    /// Whether a matchLabels selector (non-empty) selects pods with `labels`.
    static func selects(_ selector: [String: String], _ labels: [String: String]) -> Bool {
        !selector.isEmpty && selector.allSatisfy { labels[$0.key] == $0.value }
    }

    /// A YAML value as canonical JSON, to compare two manifests' blocks.
    static func json(_ value: Any?) throws -> String {
        let present = try #require(value, "missing")
        return String(decoding: try JSONSerialization.data(withJSONObject: present, options: [.sortedKeys]), as: UTF8.self)
    }

    /// The replicas' Secrets: deploy/kubernetes/secret.yaml (callers, passwords) and the cluster
    /// key's, with their names and their values merged.
    static func clusterSecrets() throws -> (names: [String], values: [String: String]) {
        let secrets = try kubernetesManifests().filter { $0["kind"] as? String == "Secret" }
            + kubernetesManifests(clusterDirectory).filter { $0["kind"] as? String == "Secret" }
        #expect(secrets.count == 2)
        var values: [String: String] = [:]
        for secret in secrets {
            let data = try #require(secret["stringData"] as? [String: String])
            values.merge(data) { first, _ in first }
        }
        return (secrets.compactMap(name), values)
    }

    /// Every variable compose.cluster.yaml passes to its replicas (not to postgres).
    static func clusterComposeEnvironment() throws -> Set<String> {
        let services = try #require(try yamlMapping("deploy/compose.cluster.yaml")["services"] as? [String: Any])
        return Set(services.filter { $0.key != "postgres" }.values.compactMap { ($0 as? [String: Any])?["environment"] as? [String: String] }.flatMap(\.keys))
    }

    /// `yaml` with `replica: NAME` added to its block-style `cluster:`: a config written for every
    /// replica (which takes its name from its host name), loaded here as one of them.
    static func naming(replica: String, in yaml: String) throws -> String {
        let regex = try NSRegularExpression(pattern: #"^( *)cluster:[ \t]*$"#, options: [.anchorsMatchLines])
        let range = NSRange(yaml.startIndex..., in: yaml)
        #expect(regex.numberOfMatches(in: yaml, range: range) == 1, "one block-style cluster: line")
        return regex.stringByReplacingMatches(in: yaml, range: range, withTemplate: "$1cluster:\n$1  replica: \(replica)")
    }

    static func temporaryConfig(_ text: String) throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pw-deploy-\(UUID().uuidString).yaml").path
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }
}
