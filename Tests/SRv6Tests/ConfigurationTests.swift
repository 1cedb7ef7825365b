import Foundation
import NetKit
import Testing
@testable import SRv6

@Suite struct ConfigurationTests {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples/srv6").path

    @Test func theExamplesAreValid() throws {
        let endpoint = try SRv6Configuration.load(file: "\(Self.examples)/endpoint.yaml")
        #expect(endpoint.namespace == "r2" && endpoint.interfaces == ["veth1", "veth2"] && endpoint.kernelRoutes == .auto)
        #expect(endpoint.localSIDs.map(\.behaviour) == [.end, .endDT6, .endX])
        #expect(endpoint.localSIDs[1].table == 254 && endpoint.localSIDs[0].count)
        #expect(endpoint.localSIDs[2].flavours == .psp && endpoint.localSIDs[2].interface == "veth2")
        let headend = try SRv6Configuration.load(file: "\(Self.examples)/headend.yaml")
        #expect(headend.policies.map(\.mode) == [.encaps, .encapsRed])
        #expect(headend.policies[1].destination == .v4(try IPv4Network(parsing: "10.2.0.0/16")))
        #expect(headend.policies[0].segments.map(\.description) == ["fc00:2::100", "fc00:3::d6"])
        let usid = try SRv6Configuration.load(file: "\(Self.examples)/usid.yaml")
        #expect(usid.localSIDs.first?.flavours == .nextCSID)
        #expect(usid.localSIDs.first?.microSID == MicroSIDFormat.linuxDefault)
    }

    @Test func kernelRoutesIsAutoTrueOrFalseAndAutoByDefault() throws {
        func setting(_ line: String) throws -> KernelRoutesSetting {
            try SRv6Configuration.parse("interfaces: [eth0]\n" + line, file: "k.yaml").kernelRoutes
        }
        #expect(try setting("") == .auto)
        #expect(try setting("kernel-routes: auto") == .auto)
        #expect(try setting("kernel-routes: true") == .on)
        #expect(try setting("kernel-routes: false") == .off)
        let bad = errors("interfaces: [eth0]\nkernel-routes: sometimes")
        #expect(bad.count == 1 && bad.first?.hasPrefix("bad.yaml:2:") == true, "\(bad)")
        #expect(bad.first?.contains("kernel-routes 'sometimes' is not auto, true or false") == true, "\(bad)")
    }

    /// A SID whose flavour the kernel's End lacks (6.1 has no psp) gets no mirror route.
    @Test func aFlavourTheKernelLacksGetsNoMirrorRoute() throws {
        let sids = try SRv6Configuration.parse("""
            interfaces: [eth0]
            local-sids:
              - {sid: "fc00:2::1", behaviour: End, flavours: [psp]}
              - {sid: "fc00:2::2", behaviour: End}
            """, file: "f.yaml").localSIDs
        guard case .seg6local(let local) = KernelRoutes.mirror(sids[0], device: "eth0")?.encap else {
            Issue.record("no seg6local mirror for End with psp")
            return
        }
        #expect(local.flavours == .psp)
        #expect(KernelRoutes.mirror(sids[0], device: "eth0", kernelEndFlavours: [.nextCSID]) == nil)
        #expect(KernelRoutes.mirror(sids[1], device: "eth0", kernelEndFlavours: []) != nil)
    }

    /// The diagnostics of text, one string each.
    func errors(_ text: String) -> [String] {
        do {
            _ = try SRv6Configuration.parse(text, file: "bad.yaml")
            return []
        } catch {
            if case .configuration(let diagnostics) = error { return diagnostics.map(\.description) }
            return [error.description]
        }
    }

    @Test func errorsSayWhichLineAndWhatToFix() {
        #expect(errors("""
            interfaces: [veth0]
            local-sids:
              - sid: fc00::1
                behaviour: End
              - sid: fc00::zz
                behaviour: End
            """) == ["bad.yaml:5:10: error: 'fc00::zz' is not an IPv6 address (like fc00::1)"])
        #expect(errors("""
            interfaces: [veth0]
            local-sids:
              - sid: fc00::d6
                behaviour: End.DT6
            """) == ["bad.yaml:3:5: error: End.DT6 needs 'table' (254 is the main table)"])
        #expect(errors("""
            interfaces: [veth0]
            policies:
              - destination: fd00::/64
                mode: encaps
                segmens: [fc00::1]
                source: fc00::2
            """).first?.hasPrefix("bad.yaml:5:5: error: unknown key 'segmens' in a policy") == true)
        #expect(errors("""
            interfaces: [veth0]
            policies:
              - destination: fd00::/64
                mode: encaps
                source: fc00::2
            """) == ["bad.yaml:3:5: error: 'policies[0]' needs 'segments'"])
        #expect(errors("""
            interfaces: veth0
            """).first?.hasPrefix("bad.yaml:1:13: error: 'interfaces' must be") == true)
        #expect(errors("interfaces: [veth0\n").first?.hasPrefix("bad.yaml:") == true)
    }

    @Test func everyErrorOfAFileIsReported() {
        let found = errors("""
            interfaces: [veth0]
            xdp-mode: turbo
            local-sids:
              - sid: fc00::1
                behaviour: End.B6
              - sid: fc00::2
                behaviour: End.DX4
                next-hop: fc00::9
              - sid: fc00::3
                behaviour: End
                flavours: [psp, fast]
              - sid: fc00::3
                behaviour: End
              - sid: fc00::4
                behaviour: End
              - sid: fc00::4
                behaviour: End
              - sid: fc00::5
                behaviour: End.DT6
                table: 254
                flavours: [usd]
            policies:
              - destination: 10.0.0.0/8
                mode: insert
                segments: [fc00::1]
                source: fc00::2
              - destination: fd00::/64
                mode: encaps
                segments: [fc00::1, fc00::2, fc00::3, fc00::4, fc00::5, fc00::6, fc00::7, fc00::8, fc00::9]
                source: fc00::2
                hop-limit: 0
            """)
        #expect(found == [
            "bad.yaml:2:11: error: xdp-mode 'turbo' is not native or generic",
            "bad.yaml:5:16: error: unknown behaviour 'End.B6'; expected one of: End, End.X, End.T, End.DX6, End.DX4, End.DT6, End.DT4, End.DT46, End.AS, End.AM, End.AD, uN, uA",
            "bad.yaml:8:15: error: 'fc00::9' is not an IPv4 address (like 10.0.0.1)",
            "bad.yaml:11:21: error: unknown flavour 'fast'; expected psp, usp, usd or next-csid",
            "bad.yaml:16:10: error: the local SID fc00::4/128 is defined twice",
            "bad.yaml:21:15: error: End.DT6 takes no flavour usd (RFC 8986 §4.16, RFC 9800)",
            "bad.yaml:24:11: error: H.Insert inserts an SRH into IPv6 packets: an IPv4 destination cannot use it",
            "bad.yaml:29:15: error: a policy has 1–8 segments, not 9",
            "bad.yaml:31:16: error: hop-limit 0 is not in 1–255",
        ])
    }

    @Test func microSIDsNeedTheirLengths() {
        #expect(errors("""
            interfaces: [veth0]
            locators:
              - name: u
                prefix: fcbb:bbbb::/32
                block-bits: 32
            local-sids:
              - sid: fcbb:bbbb:100::/64
                behaviour: uN
            """) == [
            "bad.yaml:3:5: error: give both block-bits and node-bits (uSID lengths), or neither",
            "bad.yaml:7:10: error: a uSID (NEXT-C-SID) local SID is the block and one C-SID: a /48, not /64",
        ])
        #expect(errors("""
            interfaces: [veth0]
            locators:
              - name: u
                prefix: fcbb:bbbb::/32
                block-bits: 32
                node-bits: 12
            local-sids:
              - sid: fcbb:cccc:100::/48
                behaviour: uN
                locator: u
            """) == [
            "bad.yaml:5:17: error: uSID block (32) and node (12) lengths must be positive multiples of 8 bits",
            "bad.yaml:8:10: error: the SID fcbb:cccc:100::/48 is not inside locator 'u' (fcbb:bbbb::/32)",
            "bad.yaml:10:14: error: NEXT-C-SID needs block-bits and node-bits on locator 'u'",
        ])
    }

    /// Linux ignores PSP on a NEXT-C-SID SID while the XDP path would pop: refused, so the
    /// kernel's fallback and the fast path never disagree on a packet.
    @Test func pspWithNextCSIDIsRefused() {
        #expect(errors("""
            interfaces: [veth0]
            local-sids:
              - sid: fcbb:bbbb:100::/48
                behaviour: uN
                flavours: [psp]
              - sid: fcbb:bbbb:200::/48
                behaviour: End.X
                next-hop: fc00::2
                flavours: [next-csid, psp]
            """) == [
            "bad.yaml:5:15: error: psp with next-csid (uN) is not supported: the kernel ignores PSP on a NEXT-C-SID SID while the XDP path would pop the SRH, so the two would process the same packet differently; drop one of them",
            "bad.yaml:9:15: error: psp with next-csid (End.X) is not supported: the kernel ignores PSP on a NEXT-C-SID SID while the XDP path would pop the SRH, so the two would process the same packet differently; drop one of them",
        ])
    }

    @Test func theProxyTestbedsFilesAreValid() throws {
        let proxy = URL(fileURLWithPath: Self.examples).deletingLastPathComponent().appendingPathComponent("proxy").path
        let p1 = try SRv6Configuration.load(file: "\(proxy)/p1-srv6.yaml")
        #expect(p1.localSIDs.map(\.behaviour) == [.endAD, .endAM])
        let ad = try #require(p1.localSIDs.first?.proxy)
        #expect(ad.interfaceIn == "p1-fw1b" && ad.inner == .ipv6 && ad.ageMilliseconds == 1000 && ad.headers == nil)
        #expect(p1.localSIDs[1].proxy?.interfaceIn == "p1-fn3")
        let p2 = try SRv6Configuration.load(file: "\(proxy)/p2-srv6.yaml")
        let headers = try #require(p2.localSIDs.first?.proxy?.headers)
        #expect(headers.segments.map(\.description) == ["fc00:3::d6"] && headers.source.description == "fd00:12::2" && headers.hopLimit == 64)
    }

    @Test func proxiesNeedTheirFunctionAndAnInterfaceInOfTheirOwn() {
        #expect(errors("""
            interfaces: [veth0, veth1]
            local-sids:
              - {sid: "fc00::a1", behaviour: End.AD, interface: veth0, interface-in: veth2, next-hop: "fd00::2"}
              - {sid: "fc00::a2", behaviour: End.AS, interface: veth0, next-hop4: "10.0.0.2", segments: []}
              - {sid: "fc00::a3", behaviour: End.AM, interface: veth1, next-hop: "fd00::3", inner: [ipv4]}
              - {sid: "fc00::a4", behaviour: End.AD, interface: veth1, inner: [ipv6, ethernet]}
              - {sid: "fc00::5", behaviour: End, interface-in: veth1, age: 5}
              - {sid: "fc00::a6", behaviour: End.AD, next-hop: "fd00::2"}
            """) == [
            "bad.yaml:3:74: error: End.AD's function sends back on veth2, which is not in 'interfaces': list it, so the srv6_localsid loader takes its packets there",
            "bad.yaml:4:93: error: End.AS needs 'segments': the 1–8 SIDs its function's packets go through next, not 0",
            "bad.yaml:4:5: error: End.AS needs 'source': the outer source address of its function's packets",
            "bad.yaml:5:88: error: End.AM takes no inner",
            "bad.yaml:6:67: error: inner ethernet goes alone: in L2 mode the function gets every frame whole, IPv6 and IPv4 included",
            "bad.yaml:7:52: error: End takes no interface-in (only the SR proxies End.AS, End.AD, End.AM do)",
            "bad.yaml:7:64: error: End takes no age (only the SR proxies End.AS, End.AD, End.AM do)",
            "bad.yaml:8:5: error: End.AD needs 'interface' (where its function is)",
        ])
        #expect(errors("""
            interfaces: [veth0]
            local-sids:
              - {sid: "fc00::a1", behaviour: End.AD, interface: veth0, next-hop: "fd00::2"}
              - {sid: "fc00::a3", behaviour: End.AM, interface: veth0, next-hop: "fd00::3"}
            """) == [
            "bad.yaml:4:53: error: veth0 already brings back the function of fc00::a1/128: one SR proxy per interface-in (a second function needs an interface of its own)",
        ])
    }

    /// L2 mode: inner ethernet alone, no next hop, not End.AM.
    @Test func ethernetInnerIsTheProxiesL2Mode() throws {
        let config = try SRv6Configuration.parse("""
            interfaces: [veth0, veth1]
            local-sids:
              - {sid: "fc00::a1", behaviour: End.AD, interface: veth0, inner: [ethernet]}
              - {sid: "fc00::a2", behaviour: End.AS, interface: veth1, inner: [ethernet], source: "fc00::1", segments: ["fc00::b"]}
            """, file: "l2.yaml")
        #expect(config.localSIDs.map { $0.proxy?.inner } == [.ethernet, .ethernet])
        #expect(errors("""
            interfaces: [veth0, veth1]
            local-sids:
              - {sid: "fc00::a1", behaviour: End.AD, interface: veth0, inner: [ethernet], next-hop: "fd00::2"}
              - {sid: "fc00::a3", behaviour: End.AM, interface: veth1, inner: [ethernet]}
            """) == [
            "bad.yaml:3:89: error: next-hop is not used with inner ethernet: frames go out of 'interface' as they came",
            "bad.yaml:4:5: error: End.AM needs 'next-hop'",
            "bad.yaml:4:67: error: End.AM takes no inner",
        ])
    }

    /// srv6_h_insert_red refuses a policy with one segment; validation says so first.
    @Test func insertRedNeedsTwoSegments() {
        #expect(errors("""
            interfaces: [veth0]
            policies:
              - destination: fd00::/64
                mode: insert.red
                segments: [fc00::1]
                source: fc00::2
            """) == ["bad.yaml:5:15: error: insert.red needs 2–8 segments, not 1: the reduced SRH leaves the first one out; use mode insert"])
        #expect(errors("""
            interfaces: [veth0]
            policies:
              - destination: fd00::/64
                mode: insert.red
                segments: [fc00::1, fc00::3]
                source: fc00::2
            """).isEmpty)
    }

    /// pm-flow: an encapsulating policy monitored as a pm flow, written at srv6_policy.pm_flow.
    @Test func pmFlowMonitorsEncapsulatingPoliciesOnly() throws {
        func policy(_ mode: String, _ flow: String) -> String {
            """
            interfaces: [veth0]
            policies:
              - destination: fd00::/64
                mode: \(mode)
                segments: [fc00::1, fc00::3]
                source: fc00::2
                pm-flow: \(flow)
            """
        }
        let parsed = try SRv6Configuration.parse(policy("encaps", "7"), file: "ok.yaml")
        #expect(parsed.policies.first?.pmFlow == 7)
        let first = try #require(parsed.policies.first)
        let value = try SRv6PolicyEntry(mode: first.mode, segments: first.segments, flags: 0, hopLimit: 64, tag: 0,
                                        source: first.source, pmFlow: first.pmFlow).encoded()
        #expect(Array(value[152..<156]) == [7, 0, 0, 0])
        #expect(errors(policy("encaps", "4096")) == ["bad.yaml:7:14: error: pm-flow 4096 is not a pm flow ID (1–4095)"])
        #expect(errors(policy("encaps", "0")) == ["bad.yaml:7:14: error: pm-flow 0 is not a pm flow ID (1–4095)"])
        #expect(errors(policy("insert", "7")) == [
            "bad.yaml:7:14: error: H.Insert does not mark: pm-flow needs an encapsulating mode (encaps, encaps.red, l2encap); "
                + "mark inserted packets with pm_mark in a chain",
        ])
    }

    @Test func sidsAndPoliciesNeedInterfacesAndDistinctKeys() {
        #expect(errors("""
            local-sids:
              - sid: fc00::1
                behaviour: End
            """) == ["bad.yaml:1:1: error: no interfaces: list where the srv6_localsid loader attaches (interfaces: [eth0])"])
        #expect(errors("""
            interfaces: [veth0]
            local-sids:
              - sid: fc00::1
                behaviour: End
            policies:
              - destination: fc00::1
                mode: encaps
                segments: [fc00::2]
                source: fc00::3
            """) == ["bad.yaml:6:18: error: fc00::1/128 is both a local SID and a policy destination"])
        #expect(errors("") == ["bad.yaml: error: the file is empty"])
        #expect(errors("namespace: a/b\n") == ["bad.yaml:1:12: error: 'a/b' is not a namespace name (as `ip netns` lists them)"])
        #expect(errors("- a\n- b\n").first?.contains("must be a mapping") == true)
    }
}
