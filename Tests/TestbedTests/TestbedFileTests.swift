import Foundation
import HikeTestSupport
import Testbed
import Testing

/// Reading topology files: shapes, names, addresses and references are checked before anything
/// is made, and every problem comes with its line.
@Suite struct TestbedFileTests {
    /// The one problem of text, or nil when it parses.
    func problem(_ text: String, directory: String? = nil) -> TestbedError? {
        do {
            _ = try TestbedFile.parse(text, path: "t.yaml", directory: directory)
            return nil
        } catch let error as TestbedError {
            return error
        } catch {
            Issue.record("not a TestbedError: \(error)")
            return nil
        }
    }

    func expectInvalid(_ text: String, line: Int, containing words: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let error = problem(text) else {
            Issue.record("the topology was accepted", sourceLocation: sourceLocation)
            return
        }
        // A change may cause follow-on problems; the one looked for must be among them.
        let found = error.problems.contains { problem in
            guard case .invalid(let file, let errorLine, _, let message) = problem else { return false }
            return file == "t.yaml" && errorLine == line && message.contains(words)
                && problem.description.hasPrefix("t.yaml:\(line):")
        }
        #expect(found, "expected a problem at line \(line) with '\(words)', got:\n\(error)", sourceLocation: sourceLocation)
    }

    static let pair = """
        name: pair
        nodes:
          a:
            interfaces:
              veth0: {addresses: [fc00::1/64]}
          b:
            interfaces:
              veth0: {addresses: [fc00::2/64]}
        links:
          - [a:veth0, b:veth0]

        """

    @Test func theVPNExampleReadsInFileOrder() throws {
        let file = try TestbedFile.read(Examples.path("vpn-kernel.yaml"))
        let spec = file.spec
        #expect(spec.name == "vpn-kernel")
        #expect(spec.nodes.map(\.name) == ["h1", "r1", "r2", "h2"])
        #expect(spec.links.map { "\($0.a)-\($0.b)" } == ["h1:veth-h1r1-r1:veth-r1h1", "r1:veth-r1r2-r2:veth-r2r1", "r2:veth-r2h2-h2:veth-h2r2"])
        let r1 = try #require(spec.node("r1"))
        #expect(r1.interfaces.map(\.name) == ["veth-r1h1", "veth-r1r2"])
        #expect(r1.interface("veth-r1h1")?.mac == "00:00:00:00:01:00")
        #expect(r1.sysctls.first == KeyValue("net.ipv6.conf.all.forwarding", "1"))
        // The structured forms become the words `ip route add` takes.
        #expect(r1.routes[0].arguments == ["cafe::2/128", "encap", "seg6", "mode", "encap", "segs", "fc00:2::d6", "dev", "veth-r1r2"])
        #expect(r1.routes[1].arguments == ["fc00:1::d6/128", "encap", "seg6local", "action", "End.DT6", "table", "254", "dev", "veth-r1r2"])
        #expect(r1.routes[2].arguments == ["fc00:2::/48", "via", "fd00:12::2", "dev", "veth-r1r2"])
        #expect(r1.routes.allSatisfy { $0.familyFlag == ["-6"] })
        let r2 = try #require(spec.node("r2"))
        #expect(r2.routes[0].raw == "fc00:2::d6/128 encap seg6local action End.DT6 table 254 dev veth-r2r1")
    }

    @Test func theHikeVPNExampleNamesItsScriptsAndPolicy() throws {
        let spec = try TestbedFile.read(Examples.path("vpn.yaml")).spec
        let r1 = try #require(spec.node("r1")?.hike)
        #expect(r1.scripts.map(\.file) == ["r1.eclat"])
        #expect(r1.scripts.first?.allDefines == ["DEVNAME": "veth-r1h1"])
        let policy = try #require(r1.maps.first)
        #expect(policy.map == "srv6_policies" && policy.program == "srv6_h_encaps")
        #expect(policy.key == .int(0))
        // YAML scalars reach the map codec as integers or text, never as YAML 1.1 numbers.
        #expect(policy.value["src"] == .string("fd00:12::1"))
        #expect(policy.value["segments"]?[0] == .string("fc00:2::d6"))
        #expect(policy.value["mode"] == .int(1))
        #expect(spec.node("r2")?.hike?.scripts.map(\.file) == ["r2.eclat"])
        // r1 leaves cafe::2 to its chain: no kernel headend route for it.
        #expect(spec.node("r1")?.routes.contains { $0.seg6 != nil } == false)
    }

    @Test func aYAMLSyntaxErrorHasItsLine() {
        expectInvalid("""
            name: x
            nodes:
              a: b: c
            links: []
            """, line: 3, containing: "YAML: mapping values are not allowed")
    }

    @Test func anUnknownKeyIsAnErrorAtTheKey() {
        expectInvalid(Self.pair.replacingOccurrences(of: "veth0: {addresses: [fc00::2/64]}", with: "veth0: {adresses: [fc00::2/64]}"),
                      line: 8, containing: "unknown key 'adresses'")
        expectInvalid("name: x\nnode:\n  a: {}\n", line: 2, containing: "unknown key 'node'")
    }

    @Test func aWrongTypeIsAnErrorAtItsPlace() {
        expectInvalid(Self.pair.replacingOccurrences(of: "veth0: {addresses: [fc00::1/64]}", with: "veth0: {addresses: [fc00::1/64], mtu: big}"),
                      line: 5, containing: "expected an integer")
    }

    @Test func aWingServersUSIDFormatMustBeOneItReverses() {
        let server = Self.pair.replacingOccurrences(of: "      veth0: {addresses: [fc00::2/64]}\n",
                                                    with: "      veth0: {addresses: [fc00::2/64]}\n    wing: {role: server, interface: veth0, usid: 32/24}\n")
        expectInvalid(server, line: 9, containing: "16-bit C-SIDs")
        #expect(problem(server.replacingOccurrences(of: "32/24", with: "32/16")) == nil)
    }

    @Test func addressesAndMACsAreChecked() {
        expectInvalid(Self.pair.replacingOccurrences(of: "fc00::2/64", with: "fc00::zz/64"), line: 8, containing: "'fc00::zz/64' is not an address")
        expectInvalid(Self.pair.replacingOccurrences(of: "fc00::2/64", with: "fc00::2"), line: 8, containing: "with a prefix length")
        expectInvalid(Self.pair.replacingOccurrences(of: "{addresses: [fc00::2/64]}", with: "{mac: '00:11:22:33:44'}"),
                      line: 8, containing: "not a MAC address")
    }

    @Test func linksNameKnownNodesAndInterfaces() {
        expectInvalid(Self.pair.replacingOccurrences(of: "[a:veth0, b:veth0]", with: "[a:veth0, c:veth0]"), line: 10, containing: "no node 'c'")
        expectInvalid(Self.pair.replacingOccurrences(of: "[a:veth0, b:veth0]", with: "[a:veth0, b:a-very-long-interface]"),
                      line: 10, containing: "longer than 15 bytes")
        expectInvalid(Self.pair.replacingOccurrences(of: "[a:veth0, b:veth0]", with: "[a:veth0]"), line: 10, containing: "two ends")
        expectInvalid(Self.pair.replacingOccurrences(of: "[a:veth0, b:veth0]", with: "[a:veth0, bveth0]"), line: 10, containing: "NODE:INTERFACE")
        // An address on an interface that no link makes.
        expectInvalid(Self.pair.replacingOccurrences(of: "veth0: {addresses: [fc00::2/64]}", with: "eth9: {addresses: [fc00::2/64]}"),
                      line: 8, containing: "no interface 'eth9'")
    }

    @Test func routesAreChecked() {
        func withRoute(_ route: String) -> String { Self.pair.replacingOccurrences(of: "  b:\n", with: "  b:\n    routes:\n      - \(route)\n") }
        // The route is on line 8, after `b:` and `routes:`.
        expectInvalid(withRoute("{to: fc00:2::/48, via: fd00::1, dev: eth7}"), line: 8, containing: "dev 'eth7' is not an interface")
        expectInvalid(withRoute("{to: fc00:2::/48, seg6local: {action: End.DT6}, dev: veth0}"), line: 8, containing: "End.DT6 needs table or vrftable")
        expectInvalid(withRoute("{to: fc00:2::/48, seg6local: {action: End.DT9, table: 254}, dev: veth0}"), line: 8, containing: "'End.DT9' is not one of")
        expectInvalid(withRoute("{to: cafe::2/128, seg6: {mode: encap, segs: [10.0.0.1]}, dev: veth0}"), line: 8, containing: "not an IPv6 address")
        expectInvalid(withRoute("{to: cafe::2/128, seg6: {mode: tunnel, segs: [fc00::1]}, dev: veth0}"), line: 8, containing: "mode 'tunnel'")
        expectInvalid(withRoute("{via: fd00::1}"), line: 8, containing: "needs `to`")
        expectInvalid(withRoute("\"fc00:2::/48 via fd00::1 dev eth3\""), line: 8, containing: "dev 'eth3'")
        expectInvalid(withRoute("{to: fc00:2::/48, seg6local: {action: End, table: 254}, frobnicate: 1}"), line: 8, containing: "unknown key 'frobnicate'")
    }

    @Test func namesMustFitNamespaceNames() {
        expectInvalid(Self.pair.replacingOccurrences(of: "name: pair", with: "name: 'a b'"), line: 1, containing: "letters, digits")
        expectInvalid(Self.pair.replacingOccurrences(of: "  b:\n", with: "  b/c:\n").replacingOccurrences(of: "b:veth0", with: "b/c:veth0"),
                      line: 6, containing: "node name 'b/c'")
    }

    @Test func scriptsAndSRv6FilesMustExist() {
        let text = Self.pair.replacingOccurrences(of: "  b:\n", with: """
              b:
                hike:
                  scripts:
                    - {file: missing.eclat, interface: veth0}
                srv6: missing-srv6.yaml

            """)
        guard case .invalidMany(let errors)? = problem(text, directory: "/nonexistent") else {
            Issue.record("expected two problems")
            return
        }
        #expect(errors.map(\.description) == [
            "t.yaml:9:12: error: cannot read the script missing.eclat (looked at /nonexistent/missing.eclat)",
            "t.yaml:10:5: error: cannot read the SRv6 configuration missing-srv6.yaml (looked at /nonexistent/missing-srv6.yaml)",
        ])
    }

    @Test func everyProblemOfAFileIsReportedAtOnce() {
        let text = Self.pair
            .replacingOccurrences(of: "fc00::1/64", with: "fc00::1/129")
            .replacingOccurrences(of: "fc00::2/64", with: "nope/64")
        guard case .invalidMany(let errors)? = problem(text) else {
            Issue.record("expected several problems")
            return
        }
        #expect(errors.count == 2)
        #expect(errors.map(\.description).allSatisfy { $0.hasPrefix("t.yaml:5:") || $0.hasPrefix("t.yaml:8:") })
    }

    @Test func anEmptyFileAsksForNodes() {
        expectInvalid("", line: 1, containing: "empty")
        expectInvalid("name: x\nnodes: {}\n", line: 2, containing: "at least one node")
    }
}
