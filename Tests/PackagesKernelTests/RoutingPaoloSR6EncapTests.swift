import BPFKit
import Foundation
import HikeRuntime
import HikeTestSupport
import HikeVM
import NetKit
import SRv6
import Testing

/// routingpaolo's sr6_encap(nsids, index): H.Encaps with the srv6 package's policy `index` (the
/// srv6_policies that `hike srv6 apply` writes, pinned at maps/srv6/), refusing a policy whose
/// segment count is not nsids; the chain always goes on.
@Suite(.serialized) struct RoutingPaoloSR6EncapTests {
    let dp: PaoloDataplane

    init() throws { dp = try PaoloDataplane(programs: ["sr6_encap"]) }

    static let enoent = UInt64(bitPattern: -2), einval = UInt64(bitPattern: -22), ebadmsg = UInt64(bitPattern: -74)

    /// struct srv6_policy as the SRv6 module writes it (laid out by the srv6 object's BTF).
    static func policy(mode: HeadendMode = .encaps, segments: [String], source: String, tag: UInt16 = 0, flags: UInt8 = 0,
                       hopLimit: UInt8 = 0) throws -> SRv6PolicyEntry {
        SRv6PolicyEntry(mode: mode, segments: try segments.map { try IPv6Address(parsing: $0) }, flags: flags, hopLimit: hopLimit,
                        tag: tag, source: try IPv6Address(parsing: source))
    }

    /// Writes the policy where hike srv6 apply does: the srv6 object's srv6_policies.
    func setPolicy(_ index: UInt32, _ policy: SRv6PolicyEntry) throws {
        let object = try dp.hike.catalog.entry("srv6_end").object
        try TypedMap<UInt32, SRv6PolicyEntry>(dp.h.map(object, "srv6_policies")).update(index, policy)
    }

    func encapStat(_ outcome: UInt32) throws -> PacketCounter { try dp.h.counter("srv6", "sr6_encap_stats", outcome) }

    /// srv6_policy_stats[index] (packets, bytes, errors), summed over the CPUs.
    func policyStats(_ index: UInt32) throws -> SRv6Stats {
        try #require(try TypedMap<UInt32, SRv6Stats>(dp.h.map("srv6", "srv6_policy_stats")).lookupSum(index))
    }

    @Test func itIsRoutingpaolosProgramInTheSRv6Object() throws {
        let entry = try dp.hike.catalog.entry("sr6_encap")
        #expect(entry.package == "routingpaolo")
        #expect(entry.object == "srv6")
        #expect(entry.arguments.map(\.type) == ["__u8", "__u32"])
        #expect(entry.arguments.map(\.name) == ["nsids", "index"])
        #expect(!entry.isFinal)
        #expect(entry.maps.contains("srv6_policies") && entry.maps.contains("sr6_encap_stats"))
        // The srv6 programs keep their package.
        #expect(try dp.hike.catalog.entry("srv6_h_encaps").package == "srv6")
    }

    @Test func encapsulatesIPv6AsSRv6HEncapsDoesWithTheSamePolicy() throws {
        try setPolicy(7, try Self.policy(segments: ["fc00:b::2", "fc00:c::3", "fc00:d::4"], source: "fc00:1::100", tag: 0x1234, flags: 0x80))
        try dp.install("""
            chain paolo
                r2 = 3
                r3 = 7
                call sr6_encap
                exit
            chain headend
                r2 = 7
                call srv6_h_encaps
                exit
            """)
        let inner = PaoloWire.udp6(destination: "fc00:9::9", hopLimit: 37, trafficClass: 0xb8, flowLabel: 0xabcde)
        // RFC 8986 §5.1 with the kernel's defaults: the SRH lists the segments in reverse,
        // SL = Last Entry = 2, DA = the first segment, SA = the policy's source; the outer header
        // takes the inner's traffic class, flow label and hop limit.
        let srh = PaoloWire.srh(nextHeader: 41, segmentsLeft: 2, segments: ["fc00:d::4", "fc00:c::3", "fc00:b::2"], tag: 0x1234,
                                flags: 0x80)
        let outer = PaoloWire.ipv6(trafficClass: 0xb8, flowLabel: 0xabcde, payloadLength: srh.count + inner.count, nextHeader: 43,
                                   hopLimit: 37, source: "fc00:1::100", destination: "fc00:b::2")
        let expected = PaoloWire.fromH1(outer + srh + inner)

        let out = try dp.run("paolo", PaoloWire.fromH1(inner))
        #expect(out.verdict == PaoloDataplane.continued)  // the chain went on
        #expect(out.r0 == 0)
        #expect(out.data == expected)
        // srv6_h_encaps on the same policy: the same bytes, so one map and one encapsulation.
        let headend = try dp.run("headend", PaoloWire.fromH1(inner))
        #expect(headend.r0 == 0)
        #expect(headend.data == expected)

        #expect(try encapStat(0) == PacketCounter(packets: 1, bytes: UInt64(14 + inner.count)))
        // Both count in the policy's statistics: packets, inner bytes, errors.
        #expect(try policyStats(7) == SRv6Stats(packets: 2, bytes: UInt64(2 * inner.count), errors: 0))
    }

    @Test func encapsulatesIPv4WithNextHeader4AndTheRightPayloadLength() throws {
        try setPolicy(1, try Self.policy(segments: ["fc00:b::2", "fc00:c::3"], source: "fc00:1::100"))
        try setPolicy(2, try Self.policy(segments: ["fc00:b::2"], source: "fc00:1::100", hopLimit: 9))
        try dp.install("""
            chain two
                r2 = 2
                r3 = 1
                call sr6_encap
                exit
            chain one
                r2 = 1
                r3 = 2
                call sr6_encap
                exit
            """)
        let inner = PaoloWire.ipv4()
        // A 36-byte IPv4 packet padded to Ethernet's 60-byte minimum: the padding is not encapsulated.
        let frame = PaoloWire.fromH1(inner, type: 0x0800) + [UInt8](repeating: 0, count: 60 - 14 - inner.count)
        for (chain, segments, hopLimit) in [("two", ["fc00:c::3", "fc00:b::2"], UInt8(64)), ("one", ["fc00:b::2"], UInt8(9))] {
            let out = try dp.run(chain, frame)
            // The original wrote next header 0 for IPv4 and a payload length 40 bytes too large.
            let srh = PaoloWire.srh(nextHeader: 4, segmentsLeft: UInt8(segments.count - 1), segments: segments)
            let outer = PaoloWire.ipv6(payloadLength: srh.count + inner.count, nextHeader: 43, hopLimit: hopLimit,
                                       source: "fc00:1::100", destination: "fc00:b::2")
            #expect(out.verdict == PaoloDataplane.continued, "\(chain)")
            #expect(out.r0 == 0, "\(chain)")
            #expect(out.data == PaoloWire.fromH1(outer + srh + inner), "\(chain)")
        }
        #expect(try encapStat(0).packets == 2)
    }

    @Test func theArgumentsAreTruncatedToTheirTypes() throws {
        try setPolicy(7, try Self.policy(segments: ["fc00:b::2", "fc00:c::3", "fc00:d::4"], source: "fc00:1::100"))
        // nsids 259 is u8 3, index 2^32 + 7 is u32 7, as the original's __u8 and __u32.
        try dp.install("""
            chain wide
                r2 = 259
                r3 = 0x100000007 ll
                call sr6_encap
                exit
            """)
        let inner = PaoloWire.udp6(destination: "fc00:9::9")
        let out = try dp.run("wide", PaoloWire.fromH1(inner))
        #expect(out.r0 == 0)
        #expect(Array(out.data[14 + 24..<14 + 40]) == PacketBuilder.address("fc00:b::2"))
        #expect(out.data.count == 14 + 40 + 8 + 48 + inner.count)
    }

    @Test func aCallThatDoesNotFitThePolicyLeavesThePacketAndGoesOn() throws {
        try setPolicy(7, try Self.policy(segments: ["fc00:b::2", "fc00:c::3", "fc00:d::4"], source: "fc00:1::100"))
        try setPolicy(8, try Self.policy(mode: .insert, segments: ["fc00:b::2"], source: "fc00:1::100"))  // an H.Insert policy
        let cases: [(chain: String, nsids: Int, index: Int, r0: UInt64, outcome: UInt32)] = [
            ("fewer", 2, 7, Self.einval, 2), ("more", 4, 7, Self.einval, 2), ("zero", 0, 7, Self.einval, 2),
            ("nine", 9, 7, Self.einval, 2), ("empty", 1, 5, Self.enoent, 1), ("insert", 1, 8, Self.enoent, 1),
            ("past", 3, 4096, Self.enoent, 1),
        ]
        // After each refusal the chain goes on: here to hike_pass.
        try dp.install(cases.map { "chain \($0.chain)\n    r2 = \($0.nsids)\n    r3 = \($0.index)\n    call sr6_encap\n    call hike_pass\n" }
            .joined())
        let frame = PaoloWire.fromH1(PaoloWire.udp6(destination: "fc00:9::9"))
        for c in cases {
            let out = try dp.run(c.chain, frame)
            #expect(out.verdict == PaoloDataplane.pass, "\(c.chain)")
            #expect(out.data == frame, "\(c.chain)")
        }
        // The refusals' codes, with chains that end at exit (so r0 is sr6_encap's).
        try dp.install(cases.map { "chain r0_\($0.chain)\n    r2 = \($0.nsids)\n    r3 = \($0.index)\n    call sr6_encap\n    exit\n" }
            .joined())
        for c in cases {
            let out = try dp.run("r0_" + c.chain, frame)
            #expect(out.r0 == c.r0, "\(c.chain): r0 \(Int64(bitPattern: out.r0))")
            #expect(out.verdict == PaoloDataplane.continued, "\(c.chain)")
            #expect(out.data == frame, "\(c.chain)")
        }
        #expect(try encapStat(2) == PacketCounter(packets: 8, bytes: UInt64(8 * frame.count)))
        #expect(try encapStat(1) == PacketCounter(packets: 6, bytes: UInt64(6 * frame.count)))
        #expect(try encapStat(0).packets == 0)
        // Refused calls never reached the policy's encapsulation.
        #expect(try policyStats(7) == .zero)
    }

    @Test func aTruncatedPacketIsLeftAlone() throws {
        try setPolicy(7, try Self.policy(segments: ["fc00:b::2"], source: "fc00:1::100"))
        try dp.install("chain cut\n    r2 = 1\n    r3 = 7\n    call sr6_encap\n    exit\n")
        var frame = PaoloWire.fromH1(PaoloWire.udp6(destination: "fc00:9::9"))
        frame.removeLast(8)  // the IPv6 payload length now runs past the frame
        let out = try dp.run("cut", frame)
        #expect(out.r0 == Self.ebadmsg)
        #expect(out.verdict == PaoloDataplane.continued)
        #expect(out.data == frame)
        #expect(try encapStat(4).packets == 1)
        #expect(try policyStats(7) == SRv6Stats(packets: 0, bytes: 0, errors: 1))  // an error of the policy, as srv6_h_encaps counts it
    }
}
