import Testing

@testable import PoolWardenHTTP
@testable import PoolWardenRuntime

@Suite("Config listen address and the loopback rule")
struct ConfigListenTests {
    static let withCaller = """
        listen: { host: 0.0.0.0, port: 8080 }
        callers:
          - { name: ops, role: admin, key_sha256: \(String(repeating: "ab", count: 32)) }
        """

    @Test("loopback hosts", arguments: [
        "127.0.0.1", "127.1.2.3", "127.255.255.254", "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1",
        "localhost", "LOCALHOST", "localhost.",
    ])
    func loopback(host: String) {
        #expect(ListenAddress.isLoopback(host))
    }

    @Test("hosts that are not loopback", arguments: [
        "0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "192.168.1.10", "::2", "fe80::1", "example.com",
        "127.0.0.1.nip.io", "localhost.example.com", "", "127.0.0.256", "127.1", "[::1",
    ])
    func notLoopback(host: String) {
        #expect(!ListenAddress.isLoopback(host))
    }

    @Test("with no callers, a non-loopback host in the file is refused")
    func refusedInFile() {
        let problems = ConfigTests.problems("listen: { host: 0.0.0.0, port: 8080 }")
        #expect(problems.count == 1)
        #expect(problems.first?.path == "listen.host")
        #expect(problems.first?.line == 1)
        #expect(problems.first?.message.hasPrefix("0.0.0.0 is not a loopback address; with no callers configured") == true)
    }

    @Test("with callers, any host is accepted")
    func acceptedWithCallers() throws {
        let config = try ConfigLoader(environment: [:]).load(yaml: Self.withCaller)
        #expect(config.listen == ListenAddress(host: "0.0.0.0", port: 8080))
        #expect(!config.requiresLoopback)
        #expect(try config.resolvedListen(host: "::", port: 9090) == ListenAddress(host: "::", port: 9090))
    }

    @Test("the rule applies after --host overrides the file")
    func afterOverride() throws {
        let refused = ConfigTests.problems("listen: { host: 127.0.0.1, port: 8080 }", host: "0.0.0.0")
        #expect(refused.map(\.path) == ["--host"])
        #expect(refused.first?.line == nil)

        let config = try ConfigLoader(environment: [:]).load(yaml: "listen: { host: 0.0.0.0, port: 8080 }", host: "127.0.0.1", port: 9000)
        #expect(config.listen == ListenAddress(host: "127.0.0.1", port: 9000))
        #expect(config.requiresLoopback)
    }

    @Test("a listen port outside 1...65535 is refused, from the file or from --port")
    func ports() {
        #expect(ConfigTests.messages("listen: { host: 127.0.0.1, port: 70000 }") == [
            "listen.port: must be between 1 and 65535, got 70000",
        ])
        #expect(ConfigTests.messages("listen: { port: 8080 }", port: 0) == ["--port: must be between 1 and 65535, got 0"])
    }

    @Test("resolvedListen checks the overridden address against the loaded config")
    func resolvedListen() throws {
        let open = WardenConfig()
        #expect(open.requiresLoopback)
        #expect(try open.resolvedListen() == ListenAddress(host: "127.0.0.1", port: 8080))
        #expect(try open.resolvedListen(host: "::1", port: 1) == ListenAddress(host: "::1", port: 1))
        #expect {
            try open.resolvedListen(host: "192.168.1.10")
        } throws: { error in
            (error as? ConfigError)?.problems.map(\.path) == ["--host"]
        }
        #expect {
            try open.resolvedListen(host: "0.0.0.0", port: 65536)
        } throws: { error in
            (error as? ConfigError)?.problems.map(\.path) == ["--host", "--port"]
        }
        var moved = open
        moved.listen.host = "10.0.0.1"
        #expect {
            try moved.validateListen()
        } throws: { error in
            (error as? ConfigError)?.problems.map(\.path) == ["listen.host"]
        }
    }

    @Test("a listen address prints with brackets around IPv6")
    func description() {
        #expect(ListenAddress(host: "::1", port: 8080).description == "[::1]:8080")
        #expect(ListenAddress(host: "127.0.0.1", port: 8080).description == "127.0.0.1:8080")
        #expect(ListenAddress().description == "127.0.0.1:8080")
    }
}
