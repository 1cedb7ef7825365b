import Foundation
import HikeTestSupport
import NetKit
import Testing
import Topology

/// Two routers, each with its daemon listening on its management address with mutual TLS, both
/// configured from one CLI in a controller namespace; clients without the CA's certificate are
/// refused.
@Suite(.serialized) struct MutualTLSTests {
    init() throws {
        try KernelTest.prepare()
    }

    /// A CA, a certificate per router (its name and management address) and a client's, made
    /// with openssl; and a second CA with a client of its own.
    static func certificates(in directory: String) throws {
        func openssl(_ arguments: [String]) throws { try Command.check(["openssl"] + arguments) }
        func key(_ name: String) -> [String] {
            ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "\(directory)/\(name).key"]
        }
        for ca in ["ca", "other-ca"] {
            try openssl(["req", "-x509"] + key(ca) + ["-out", "\(directory)/\(ca).pem", "-days", "2", "-subj", "/CN=hike test \(ca)"])
        }
        func sign(_ name: String, by ca: String, extensions: String) throws {
            try openssl(["req"] + key(name) + ["-out", "\(directory)/\(name).csr", "-subj", "/CN=\(name)"])
            try Data(extensions.utf8).write(to: URL(fileURLWithPath: "\(directory)/\(name).ext"))
            try openssl(["x509", "-req", "-in", "\(directory)/\(name).csr", "-CA", "\(directory)/\(ca).pem", "-CAkey", "\(directory)/\(ca).key",
                         "-CAcreateserial", "-out", "\(directory)/\(name).pem", "-days", "2", "-extfile", "\(directory)/\(name).ext"])
        }
        for router in 1...2 {
            try sign("r\(router)", by: "ca", extensions: "subjectAltName=DNS:r\(router),IP:fd00:\(router)::2\nextendedKeyUsage=serverAuth\n")
        }
        try sign("controller", by: "ca", extensions: "extendedKeyUsage=clientAuth\n")
        try sign("intruder", by: "other-ca", extensions: "extendedKeyUsage=clientAuth\n")
    }

    @Test func oneCLIConfiguresTwoRoutersOverMutualTLS() throws {
        // h1 — r1 — r2 — h2, and a controller with a management link to each router.
        let topology = KernelTest.topology()
        defer { topology.destroy() }
        let h1 = try topology.addNamespace("h1"), r1 = try topology.addNamespace("r1"), r2 = try topology.addNamespace("r2")
        let h2 = try topology.addNamespace("h2"), controller = try topology.addNamespace("ctl")
        try topology.addVethPair(h1, "veth0", r1, "veth1")
        try topology.addVethPair(r1, "veth2", r2, "veth1")
        try topology.addVethPair(r2, "veth2", h2, "veth0")
        try topology.addVethPair(controller, "m1", r1, "mgmt")
        try topology.addVethPair(controller, "m2", r2, "mgmt")
        for (cidr, interface, namespace) in [("fc00:1::1/64", "veth0", h1), ("fc00:1::2/64", "veth1", r1), ("fc00:12::1/64", "veth2", r1),
                                             ("fc00:12::2/64", "veth1", r2), ("fc00:2::1/64", "veth2", r2), ("fc00:2::2/64", "veth0", h2),
                                             ("fd00:1::1/64", "m1", controller), ("fd00:1::2/64", "mgmt", r1),
                                             ("fd00:2::1/64", "m2", controller), ("fd00:2::2/64", "mgmt", r2)] {
            try topology.addAddress(cidr, interface: interface, in: namespace)
        }
        for router in [r1, r2] { try topology.sysctl("net.ipv6.conf.all.forwarding", "1", in: router) }
        try topology.addRoute(["default", "via", "fc00:1::2"], in: h1)
        try topology.addRoute(["default", "via", "fc00:2::1"], in: h2)
        try topology.addRoute(["fc00:2::/64", "via", "fc00:12::2"], in: r1)
        try topology.addRoute(["fc00:1::/64", "via", "fc00:12::1"], in: r2)

        try DaemonScratch.with { scratch in
            try Self.certificates(in: scratch.directory)
            func file(_ name: String) -> String { "\(scratch.directory)/\(name)" }
            var daemons: [DaemonProcess] = []
            defer { for daemon in daemons { _ = daemon.stop() } }
            for (index, router) in [r1, r2].enumerated() {
                let name = "r\(index + 1)"
                daemons.append(try DaemonProcess(["--netns", router.name, "--listen", "[fd00:\(index + 1)::2]:0",
                                                  "--tls-cert", file("\(name).pem"), "--tls-key", file("\(name).key"),
                                                  "--tls-client-ca", file("ca.pem")], scratch: scratch, tag: name))
            }
            let ports = daemons.map { $0.tcpPort ?? 0 }
            #expect(ports.allSatisfy { $0 > 0 })
            // The inventory the controller's CLI uses: routers by name, relative TLS paths.
            _ = try scratch.write("nodes.yaml", """
                nodes:
                  r1: {address: "[fd00:1::2]:\(ports[0])", tls: {ca: ca.pem, certificate: controller.pem, key: controller.key}}
                  r2: {address: "[fd00:2::2]:\(ports[1])", tls: {ca: ca.pem, certificate: controller.pem, key: controller.key}}
                """)
            let chain = try scratch.write("count.hasm", "chain t_count\n    r2 = 7\n    call monitor\n    call hike_pass\n")
            /// The CLI in the controller's namespace (it touches no pin: --connect sends everything).
            func controllerCLI(_ node: String, _ arguments: [String]) throws -> CommandResult {
                try Command.run(["ip", "netns", "exec", controller.name, hikeBinary] + arguments
                                + ["--instance", scratch.name, "--connect", node, "--nodes", file("nodes.yaml")])
            }
            for (node, router) in [("r1", r1), ("r2", r2)] {
                let load = try controllerCLI(node, ["chain", "load", chain])
                #expect(load.status == 0, "\(node): \(load.stderr)")
                for interface in ["veth1", "veth2"] {
                    let attach = try controllerCLI(node, ["loader", "attach", "ip6_classifier", interface, "--netns", router.name,
                                                          "--chain", "t_count", "--default-verdict", "pass"])
                    #expect(attach.status == 0, "\(node) \(interface): \(attach.stderr)")
                }
            }
            let ping = try Traffic.ping(from: h1, to: "fc00:2::2", count: 5, interval: 0.05)
            #expect(ping.received == 5, "\(ping)")
            for node in ["r1", "r2"] {
                let dump = try controllerCLI(node, ["map", "dump", "monitor_events", "--json"])
                let object = try JSONSerialization.jsonObject(with: Data(dump.stdout.utf8)) as? [String: Any]
                let entry = (object?["entries"] as? [[String: Any]])?.first { $0["key"] as? Int == 7 }
                #expect((entry?["sum"] as? Int ?? 0) >= 10, "\(node) counted the 5 requests and 5 replies: \(dump.stdout) \(dump.stderr)")
            }

            // Refused: no client certificate, a certificate of another CA, and plaintext.
            let address = "[fd00:1::2]:\(ports[0])"
            let refusals = [
                ("without a certificate", ["--connect", address]),
                ("with another CA's certificate", ["--connect", address, "--tls-ca", file("ca.pem"), "--tls-cert", file("intruder.pem"),
                                                   "--tls-key", file("intruder.key"), "--tls-server-name", "r1"]),
            ]
            for (what, arguments) in refusals {
                let result = try Command.run(["ip", "netns", "exec", controller.name, hikeBinary, "chain", "list", "--instance", scratch.name]
                                             + arguments)
                #expect(result.status == 1, "\(what): \(result.stdout)")
                #expect(result.stderr.hasPrefix("error: cannot reach the daemon at \(address)"), "\(what): \(result.stderr)")
            }
            #expect(daemons.allSatisfy { $0.process.isRunning })
        }
    }
}
