import BPFKit
import Foundation
import Topology

/// The SRv6 scenarios (issue 6's benchmark): the kernel's seg6/seg6local against hike's srv6
/// package, with the same input and the same output, on the pipeline's DUT.
///
///   srv6-encap    IPv6/UDP to fc00:4::2 → H.Encaps with N SIDs (first fc00:2::2, the sink's
///                 address), outer source fc00:2::1 → sink.
///                 kernel: `fc00:4::/64 encap seg6 mode encap segs …` + `ip sr tunsrc set fc00:2::1`
///   srv6-end      outer fc00:1::1 → fc00:9::1, SRH of N ≥ 2 SIDs with SL = N − 1 → End: SL − 1,
///                 destination fc00:3::… → sink.        kernel: `fc00:9::1/128 seg6local End`
///   srv6-end-dt6  outer fc00:1::1 → fc00:9::6, SRH of N SIDs with SL = 0 → End.DT6 table 254:
///                 the inner fc00:1::1 → fc00:3::2 is forwarded to the sink.
///                 kernel: `fc00:9::6/128 seg6local End.DT6 table 254`
///
/// The kernel's routes are for destinations only these scenarios send to, so they stay in place
/// for the whole run and change nothing for the other DUTs.
public enum SRv6BenchPlan {
    /// Where H.Encaps inputs go (the encap route's prefix) and the inner destination.
    public static let encapPrefix = "fc00:4::/64"
    public static let encapDestination = PacketTemplate.address6(0xfc00, 4, 2)
    /// The headend's outer source (`ip sr tunsrc`).
    public static let tunnelSource = PacketTemplate.address6(0xfc00, 2, 1)
    public static let endSID = PacketTemplate.address6(0xfc00, 9, 1)
    public static let endDT6SID = PacketTemplate.address6(0xfc00, 9, 6)

    /// The encap policy's SIDs in visiting order: the sink's fc00:2::2 first (so the outer packet
    /// is forwarded to it), then fc00:5::1, fc00:5::2, … (never visited: the sink drops).
    public static func encapSegments(_ count: Int) -> [[UInt8]] {
        [PacketTemplate.address6(0xfc00, 2, 2)] + (1..<max(1, count)).map { PacketTemplate.address6(0xfc00, 5, UInt16($0)) }
    }

    /// End needs a next segment: its SRH has max(2, N) SIDs.
    public static func endSegmentCount(_ segments: Int) -> Int { max(2, segments) }

    /// End's input: SL = N − 1 points at fc00:9::1; the segments after it are fc00:3::2, …
    /// (wire order: segments[0] = fc00:3::2 is the last).
    public static func endInput(segments: Int) -> PacketTemplate {
        let count = endSegmentCount(segments)
        let rest = (0..<(count - 1)).map { PacketTemplate.address6(0xfc00, 3, UInt16(2 + $0)) }
        return .srv6(.init(source: PacketTemplate.ipv6Source, segments: rest + [endSID], segmentsLeft: count - 1))
    }

    /// End.DT6's input: SL = 0, segments[0] = fc00:9::6; the segments already visited are
    /// fc00:5::1, … .
    public static func endDT6Input(segments: Int) -> PacketTemplate {
        let visited = (1..<max(1, segments)).map { PacketTemplate.address6(0xfc00, 5, UInt16($0)) }
        return .srv6(.init(source: PacketTemplate.ipv6Source, segments: [endDT6SID] + visited, segmentsLeft: 0))
    }

    static func text(_ address: [UInt8]) -> String {
        var storage = in6_addr()
        withUnsafeMutableBytes(of: &storage) { $0.copyBytes(from: address) }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        inet_ntop(AF_INET6, &storage, &buffer, socklen_t(buffer.count))
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension TrafficScenarioPrograms {
    /// The kernel's SRv6 configuration in the DUT namespace (replaced each time: the encap route
    /// depends on the number of SIDs).
    func kernelSRv6(_ pipeline: TrafficPipeline, options: TrafficBench.Options) throws {
        let topology = pipeline.topology, dut = pipeline.dut
        for key in ["net.ipv6.conf.all.seg6_enabled", "net.ipv6.conf.d0.seg6_enabled"] {
            try topology.sysctl(key, "1", in: dut)
        }
        let segments = SRv6BenchPlan.encapSegments(options.segments).map(SRv6BenchPlan.text).joined(separator: ",")
        // Without tunsrc the kernel picks a source address per packet (perf-anchors.md pitfall 8).
        try topology.ip(["sr", "tunsrc", "set", SRv6BenchPlan.text(SRv6BenchPlan.tunnelSource)], in: dut)
        try topology.ip(["-6", "route", "replace", SRv6BenchPlan.encapPrefix, "encap", "seg6", "mode", "encap",
                         "segs", segments, "dev", "d1"], in: dut)
        try topology.ip(["-6", "route", "replace", SRv6BenchPlan.text(SRv6BenchPlan.endSID) + "/128", "encap", "seg6local",
                         "action", "End", "dev", "d0"], in: dut)
        try topology.ip(["-6", "route", "replace", SRv6BenchPlan.text(SRv6BenchPlan.endDT6SID) + "/128", "encap", "seg6local",
                         "action", "End.DT6", "table", "254", "dev", "d0"], in: dut)
    }
}

extension TrafficScenarioPrograms {
    /// hike's side of an SRv6 scenario (the srv6 package of issue 6).
    func hikeSRv6(_ scenario: TrafficScenario, pipeline: TrafficPipeline, options: TrafficBench.Options) throws -> BPFProgram {
        throw BenchError.chainFailed(what: "hike \(scenario.rawValue)", detail: "the srv6 package is not built into hike")
    }
}
