import BPFKit
import Foundation
import HikeControl
import HikeRuntime
import HikeTestSupport
import HikeVM
import Testing

/// Every program the original scripts import that hike gained for them, called from an eCLAT
/// script of ours through the package path the originals wrote, on a real packet
/// (BPF_PROG_TEST_RUN through ip6_classifier).
@Suite struct OriginalProgramScriptTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var imports: String
        var body: String
        var destination = "fc00::2"
        var port: UInt16 = 5000
        var payload = "foobar!"
        /// The chain's return value (r0 at its end), or the verdict a final program gave.
        var r0: UInt64? = nil
        var verdict: UInt32? = nil
        var testDescription: String { "\(imports.split(separator: " ")[1]): \(body)" }
    }

    static let cases: [Case] = [
        Case(imports: "from programs.tutorial import dpi", body: "return dpi(1, 0)", r0: 1),
        Case(imports: "from programs.tutorial import dpi", body: "return dpi(1, 0)", payload: "no keyword", r0: 0),
        Case(imports: "from programs.eip import hello", body: "return hello()", r0: 0),
        Case(imports: "from programs.net import lse", body: "return lse()", r0: UInt64.max),
        Case(imports: "from programs.mynet import udp_port", body: "return udp_port(5000)", r0: 0),
        Case(imports: "from programs.contribs import udp_port", body: "return udp_port(7)", r0: 5000),
        Case(imports: "from programs.routingpaolo import sr6_encap", body: "u32 : index = 0\nreturn sr6_encap(2, index)",
             r0: UInt64(bitPattern: -2)),  // no policy 0: -ENOENT, the packet untouched
        Case(imports: "from programs.routingpaolo import paolo_adv_usid", body: "return paolo_adv_usid()",
             destination: "fcbb:bbbb:100:200::", r0: 0),
        Case(imports: "from programs.devel_encap import show_pkt_info", body: "show_pkt_info(0, 5)\nreturn 3", r0: 3),
        Case(imports: "from programs.hike import drop", body: "drop()", verdict: ABI.xdpDrop),
    ]

    @Test(arguments: cases)
    func theProgramAnswersInAScript(_ item: Case) throws {
        let test = try KernelTest.instance()
        let hike = test.instance
        let dataPlane = DataPlane(instance: hike)
        let body = item.body.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")
        let script = try dataPlane.compile(SourceText(file: "case.eclat", text: "\(item.imports)\n\ndef c():\n\(body)\n"))
        _ = try dataPlane.loadScript(script, namespace: nil)

        let destination = try #require(PacketBuilder.ipv6(item.destination))
        let frame = PacketBuilder.udp6(source: try #require(PacketBuilder.ipv6("fc00::1")), destination: destination,
                                       sourcePort: 40000, destinationPort: item.port, payload: Array(item.payload.utf8))
        // XDP_TX: a verdict no program here gives, so a chain that ran to its end shows.
        let loader = try hike.detachedLoader("ip6_classifier", chain: "c", defaultVerdict: ABI.xdpTX)
        let before = try hike.lastResults()
        let run = try loader.testRun(TestRunOptions(data: frame))
        let result = try #require(try hike.resultAfter(before))
        if let verdict = item.verdict {
            #expect(run.returnValue == verdict)
        } else {
            #expect(run.returnValue == ABI.xdpTX)
            #expect(result.r0 == item.r0)
        }
        if item.body.contains("paolo_adv_usid") {
            #expect(Array(run.data[38..<54]) == PacketBuilder.ipv6("fcbb:bbbb:200::"))
        }
    }
}
