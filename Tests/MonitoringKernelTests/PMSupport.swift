import BPFKit
import BPFObjects
import Foundation
import HikeRuntime
import HikeTestSupport
import HikeVM
import Monitoring
import Testing

/// A HIKe instance of its own with the pm package loaded, chains written in the chain
/// assembler's text, and test runs through a detached ip6_classifier.
struct PMHarness {
    let test: TestInstance
    var hike: HikeInstance { test.instance }
    var node: LocalMonitoredNode { LocalMonitoredNode(instance: hike) }

    init() throws {
        try KernelTest.prepare()
        test = try KernelTest.instance()
        try hike.loadProgram("hike_pass")
        try node.loadPackage()
    }

    func install(_ source: String) throws {
        _ = try hike.install(try ChainAssembler.assemble(source, file: "test"), source: nil)
    }

    /// Runs packet through the chain: the test run and the VM's result.
    func run(_ chain: String, _ packet: [UInt8]) throws -> (TestRunResult, VMResult) {
        let loader = try hike.detachedLoader("ip6_classifier", chain: chain, defaultVerdict: ABI.xdpPass)
        let before = try hike.lastResults()
        let run = try loader.testRun(TestRunOptions(data: packet))
        let result = try #require(try hike.resultAfter(before))
        return (run, result)
    }

    /// The counters of (flow, colour) at a point.
    func counter(_ flow: UInt32, _ colour: Colour, _ point: CountingPoint) throws -> (packets: UInt64, bytes: UInt64) {
        let c = try node.counters(at: point).first { $0.flow == flow && $0.colour == colour }
        return (c?.packets ?? 0, c?.bytes ?? 0)
    }
}

/// Byte helpers (network order).
enum Bytes {
    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }
    static func be32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (24 - 8 * $0)) & 0xff) } }
    static func be64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8((v >> (56 - 8 * $0)) & 0xff) } }
    static func u16(_ b: [UInt8], _ at: Int) -> UInt16 { UInt16(b[at]) << 8 | UInt16(b[at + 1]) }
    static func u32(_ b: [UInt8], _ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 << 8 | UInt32(b[at + $1]) } }
}

/// SRv6 packets: outer IPv6 + SRH + inner IPv6/UDP, as an H.Encaps headend sends them.
enum SRv6Packet {
    static let outerSource = PacketBuilder.ipv6("fd00:12::1") ?? []
    static let innerSource = PacketBuilder.ipv6("cafe::1") ?? []
    static let innerDestination = PacketBuilder.ipv6("cafe::2") ?? []

    /// segments in the order the packet visits them; DA = the first one (SL = n − 1).
    static func frame(segments: [String], trafficClass: UInt8 = 0, payload: [UInt8] = Array(repeating: 0x5a, count: 20)) -> [UInt8] {
        let sids = segments.compactMap { PacketBuilder.ipv6($0) }
        let inner = Array(PacketBuilder.udp6(source: innerSource, destination: innerDestination, sourcePort: 5000,
                                             destinationPort: 6000, payload: payload)[14...])
        let n = UInt8(sids.count)
        var srh: [UInt8] = [41, 2 * n, 4, n - 1, n - 1, 0, 0, 0]
        for sid in sids.reversed() { srh += sid }
        let payloadLength = UInt16(srh.count + inner.count)
        let outer: [UInt8] = [0x60 | trafficClass >> 4, (trafficClass & 0x0f) << 4, 0, 0] + Bytes.be16(payloadLength)
            + [43, 64] + outerSource + (sids.first ?? [])
        return PacketBuilder.ethernet(destination: [2, 0, 0, 0, 0, 2], source: [2, 0, 0, 0, 0, 1], etherType: 0x86dd)
            + outer + srh + inner
    }

    /// The RFC 9343 option's data: FlowMonID(20) | L | D | reserved(10).
    static func altMark(flow: UInt32, colour: Colour) -> [UInt8] {
        Bytes.be32(flow << 12 | colour.rawValue << 11)
    }

    /// The frame with the AltMark DOH after the outer IPv6 header, as pm_mark writes it.
    static func marked(_ frame: [UInt8], flow: UInt32, colour: Colour) -> [UInt8] {
        var ip = Array(frame[14..<54])
        let nextHeader = ip[6]
        ip[6] = 60
        let length = Bytes.u16(ip, 4) + 8
        ip[4] = UInt8(length >> 8)
        ip[5] = UInt8(length & 0xff)
        return Array(frame[..<14]) + ip + [nextHeader, 0, 0x12, 4] + altMark(flow: flow, colour: colour) + Array(frame[54...])
    }
}
