import BPFKit
import Foundation
import HikeRuntime
import HikeTestSupport
import HikeVM
import NetKit
import Testing
import Topology

/// The malformed corpus: each packet is handled as RFC 8754 §4.3.1.1 / RFC 8986 say, through
/// the hybrid split: what calls for an ICMPv6 error (Parameter Problem, Time Exceeded) or for
/// upper-layer processing goes to the kernel untouched (XDP_PASS), so it answers as it would;
/// what cannot even be parsed (cut short) is dropped. Each is counted under its reason and in
/// the SID's errors.
@Suite(.serialized) struct MalformedSRHTests {
    init() throws { try KernelTest.prepare() }

    struct Sample {
        let name: String
        let chain: String
        let sid: UInt32
        let frame: [UInt8]
        let verdict: UInt32
        let reason: SRv6ABI.Reason
    }

    static let inner = Wire.udp6(source: "fc00:1::1", destination: "fc00:b::2")
    static let twoSegments = ["fc00:b::2", "fc00:e::1"]

    static func packet(to da: String = "fc00:e::1", hopLimit: UInt8 = 64, nextHeader: UInt8 = 43, ext: [UInt8],
                       upper: [UInt8] = inner, payloadLength: Int? = nil) -> [UInt8] {
        RouterTopology.fromH1(Wire.ipv6(payloadLength: payloadLength ?? ext.count + upper.count, nextHeader: nextHeader,
                                        hopLimit: hopLimit, source: "fc00:1::1", destination: da) + ext + upper)
    }

    static var corpus: [Sample] {
        let pass = ABI.xdpPass, drop = ABI.xdpDrop
        let srh1 = Wire.srh(nextHeader: 41, segmentsLeft: 1, segments: twoSegments)
        // A Hdr Ext Len of 2 holds one segment, not Last Entry + 1 = 2.
        let shortHdrLen = Wire.srh(nextHeader: 41, segmentsLeft: 1, segments: twoSegments, hdrExtLen: 2)
        // A PadN that claims 10 bytes where the header leaves 8.
        let badTLV = Wire.srh(nextHeader: 41, segmentsLeft: 1, segments: twoSegments, tlvs: [4, 10, 0, 0, 0, 0, 0, 0])
        let past = Wire.srh(nextHeader: 41, segmentsLeft: 3, segments: twoSegments)
        // Five Pad1 and a PadN of 1: 8 bytes by RFC 8754 §2.1.1.1 (a Pad1 is one byte), but the
        // kernel's seg6_validate_srh counts every TLV as 2 + its length byte, so the third Pad1
        // (length byte = PadN's type, 4) runs past the header: the kernel's End drops it, and
        // the fast path, which walks TLVs as the kernel does, hands it to the kernel's End.
        let pad1 = Wire.srh(nextHeader: 41, segmentsLeft: 1, segments: twoSegments, tlvs: [0, 0, 0, 0, 0, 4, 1, 0])
        // Three segments announced, the packet ends 20 bytes into the list.
        let threeSegments = Wire.srh(nextHeader: 41, segmentsLeft: 2, segments: ["fc00:d::4", "fc00:b::2", "fc00:e::1"])
        let cut = Array(threeSegments.prefix(8 + 20))
        let slZero = Wire.srh(nextHeader: 41, segmentsLeft: 0, segments: twoSegments)
        let hmac = Wire.srh(nextHeader: 41, segmentsLeft: 1, segments: twoSegments, flags: 0x08)
        // A Routing header of type 3 (RPL), not an SRH.
        var rpl = srh1
        rpl[2] = 3
        let dtSRH = Wire.srh(nextHeader: 41, segmentsLeft: 0, segments: ["fc00:e::6"])
        let dtUDP = Wire.srh(nextHeader: 17, segmentsLeft: 0, segments: ["fc00:e::6"])
        let dtNone = Wire.srh(nextHeader: 59, segmentsLeft: 0, segments: ["fc00:e::6"])
        let dtSLOne = Wire.srh(nextHeader: 41, segmentsLeft: 1, segments: ["fc00:e::6", "fc00:e::7"])
        let udpOnly = Wire.udp(source: "fc00:1::1", destination: "fc00:e::6", payload: [1, 2, 3, 4])
        let ipv4 = Wire.ipv4(source: "10.1.0.1", destination: "10.9.0.1", payload: Array(repeating: 0, count: 12))
        return [
            Sample(name: "Hdr Ext Len too small for Last Entry", chain: "end", sid: 0, frame: packet(ext: shortHdrLen),
                   verdict: pass, reason: .badHdrLen),
            Sample(name: "TLVs that overrun Hdr Ext Len", chain: "end", sid: 0, frame: packet(ext: badTLV), verdict: pass, reason: .badHdrLen),
            Sample(name: "Pad1 walked as the kernel walks it", chain: "end", sid: 0, frame: packet(ext: pad1), verdict: pass,
                   reason: .badHdrLen),
            Sample(name: "Segments Left > Last Entry + 1", chain: "end", sid: 0, frame: packet(ext: past), verdict: pass, reason: .slPastLast),
            Sample(name: "segment list cut by the end of the packet", chain: "end", sid: 0, frame: packet(ext: cut, upper: []),
                   verdict: drop, reason: .truncated),
            Sample(name: "payload length past the end of the frame", chain: "end", sid: 0,
                   frame: packet(ext: srh1, payloadLength: srh1.count + inner.count + 40), verdict: drop, reason: .truncated),
            Sample(name: "hop limit 1", chain: "end", sid: 0, frame: packet(hopLimit: 1, ext: srh1), verdict: pass, reason: .hopLimit),
            Sample(name: "hop limit 0", chain: "end", sid: 0, frame: packet(hopLimit: 0, ext: srh1), verdict: pass, reason: .hopLimit),
            Sample(name: "hop limit 1 at a uSID shift", chain: "un", sid: 2,
                   frame: packet(to: "fcbb:bbbb:100:200::", hopLimit: 1, nextHeader: 41, ext: []), verdict: pass, reason: .hopLimit),
            Sample(name: "SL = 0 at a transit behaviour (End)", chain: "end", sid: 0, frame: packet(ext: slZero), verdict: pass,
                   reason: .slZero),
            Sample(name: "SRH with an HMAC (flag H)", chain: "end", sid: 0, frame: packet(ext: hmac), verdict: pass, reason: .tlv),
            Sample(name: "a Routing header of another type", chain: "end", sid: 0, frame: packet(ext: rpl), verdict: pass, reason: .noSRH),
            Sample(name: "no SRH at End", chain: "end", sid: 0, frame: packet(nextHeader: 41, ext: []), verdict: pass, reason: .noSRH),
            Sample(name: "not IPv6 at End", chain: "end", sid: 0, frame: RouterTopology.fromH1(ipv4, type: 0x0800), verdict: pass,
                   reason: .notIP),
            Sample(name: "UDP after decapsulation (End.DT6)", chain: "dt6", sid: 1, frame: packet(to: "fc00:e::6", ext: dtUDP, upper: udpOnly),
                   verdict: pass, reason: .badNextHeader),
            Sample(name: "No Next Header after decapsulation (End.DT6)", chain: "dt6", sid: 1, frame: packet(to: "fc00:e::6", ext: dtNone, upper: []),
                   verdict: pass, reason: .badNextHeader),
            Sample(name: "IPv4 at End.DT6", chain: "dt6", sid: 1, frame: packet(to: "fc00:e::6", ext: Wire.srh(nextHeader: 4, segmentsLeft: 0,
                                                                                                               segments: ["fc00:e::6"]),
                                                                                 upper: ipv4),
                   verdict: pass, reason: .badNextHeader),
            Sample(name: "SL ≠ 0 at a decapsulating behaviour (End.DT6)", chain: "dt6", sid: 1, frame: packet(to: "fc00:e::6", ext: dtSLOne),
                   verdict: pass, reason: .slNonZero),
            Sample(name: "inner header cut by the end of the packet (End.DT6)", chain: "dt6", sid: 1,
                   frame: packet(to: "fc00:e::6", ext: dtSRH, upper: Array(inner.prefix(20))), verdict: drop, reason: .truncated),
            Sample(name: "inner hop limit 1 (End.DT6)", chain: "dt6", sid: 1,
                   frame: packet(to: "fc00:e::6", ext: dtSRH, upper: Wire.udp6(source: "fc00:1::1", destination: "fc00:b::2", hopLimit: 1)),
                   verdict: pass, reason: .hopLimit),
        ]
    }

    @Test func eachMalformedPacketIsHandledAsTheRFCsSayAndCounted() throws {
        let net = try RouterTopology()
        defer { net.topology.destroy() }
        try net.route(["fc00:b::/64", "via", "fc00:2::2", "dev", "veth2"])
        let dp = try SRv6Dataplane()
        try dp.setSID(0, SRv6SID(behaviour: SRv6ABI.end))
        try dp.setSID(1, SRv6SID(behaviour: SRv6ABI.endDT6, table: 254))
        try dp.setSID(2, SRv6SID(behaviour: SRv6ABI.end, flavours: SRv6ABI.nextCSID))
        try dp.chain("end", [("srv6_end", 0)])
        try dp.chain("dt6", [("srv6_end_dt6", 1)])
        try dp.chain("un", [("srv6_end", 2)])

        for sample in Self.corpus {
            let reasons = try dp.reasonCounts()
            let errors = try dp.sidStats(sample.sid)[2]
            let out = try net.r.run { try dp.run(sample.chain, sample.frame, ingress: net.ingress) }
            #expect(out.verdict == sample.verdict, "\(sample.name)")
            #expect(out.reason == sample.reason, "\(sample.name)")
            if sample.verdict == ABI.xdpPass {
                #expect(out.data == sample.frame, "\(sample.name): the kernel must get it untouched")
            }
            let after = try dp.reasonCounts()
            for reason in SRv6ABI.Reason.allCases {
                #expect(after[reason] == (reasons[reason] ?? 0) + (reason == sample.reason ? 1 : 0), "\(sample.name): \(reason)")
            }
            #expect(try dp.sidStats(sample.sid)[2] == errors + 1, "\(sample.name): not counted as an error of SID \(sample.sid)")
        }

        // The controls: a padded TLV area the kernel accepts, and the corpus' good neighbour.
        let padded = Wire.srh(nextHeader: 41, segmentsLeft: 1, segments: Self.twoSegments, tlvs: [4, 6, 0, 0, 0, 0, 0, 0])
        for ext in [padded, Wire.srh(nextHeader: 41, segmentsLeft: 1, segments: Self.twoSegments)] {
            let frame = Self.packet(ext: ext)
            let out = try net.r.run { try dp.run("end", frame, ingress: net.ingress) }
            #expect(out.verdict == ABI.xdpRedirect)
            #expect(out.reason == .ok)
        }
    }

    /// Without a kernel mirror route (kernel-routes: false, or a kernel without seg6local) no
    /// kernel behaviour would process what the fast path hands over untouched: the kernel would
    /// route it as plain IPv6 by the default route. So nothing malformed leaves the node: what
    /// the RFCs answer with an ICMPv6 error becomes that error, sent back to h1 from the SID —
    /// Time Exceeded for hop limit ≤ 1 at a transit SID (RFC 8986 §4.1 S04), Parameter Problem
    /// pointing at Segments Left for a bad SRH (S09) or SL ≠ 0 at End.DT6 (§4.4 S02), quoting
    /// the packet as received — and the rest is dropped; each counted under its reason and as
    /// the SID's error. Only a packet the fast path has processed (End.DT6's inner packet with
    /// hop limit 1) reaches the kernel, which answers for the inner packet.
    @Test func withoutAMirrorRouteNothingMalformedLeavesTheNode() throws {
        let net = try RouterTopology()
        defer { net.topology.destroy() }
        try net.route(["default", "via", "fc00:2::2", "dev", "veth2"])
        try net.topology.ip(["-6", "neigh", "add", "fc00:1::1", "lladdr", RouterTopology.h1MAC, "dev", "veth1", "nud", "permanent"],
                            in: net.r)
        let dp = try SRv6Dataplane()
        let none = SRv6ABI.fallbackNone
        try dp.setSID(0, SRv6SID(behaviour: SRv6ABI.end, fallback: none))
        try dp.setSID(1, SRv6SID(behaviour: SRv6ABI.endDT6, table: 254, fallback: none))
        try dp.setSID(2, SRv6SID(behaviour: SRv6ABI.end, flavours: SRv6ABI.nextCSID, fallback: none))
        try dp.chain("end", [("srv6_end", 0)])
        try dp.chain("dt6", [("srv6_end_dt6", 1)])
        try dp.chain("un", [("srv6_end", 2)])

        var dropped = 0, answered = 0
        for sample in Self.corpus {
            let reasons = try dp.reasonCounts()
            let errors = try dp.sidStats(sample.sid)[2]
            let icmp = try dp.icmpCounts()
            let out = try net.r.run { try dp.run(sample.chain, sample.frame, ingress: net.ingress) }
            #expect(out.reason == sample.reason, "\(sample.name)")
            // The ICMPv6 error the RFCs ask for, if any: from the SID the packet was sent to.
            let error: (type: UInt8, pointer: UInt32)? = switch sample.reason {
            case .hopLimit where sample.chain != "dt6": (3, 0)
            case .badHdrLen, .slPastLast, .slNonZero: (4, 43)  // Segments Left: 40 + 3
            default: nil
            }
            if let error {
                let expected = Wire.ethernet(RouterTopology.h1MAC, RouterTopology.rLeftMAC)
                    + Wire.icmp6Error(type: error.type, pointer: error.pointer, source: Array(sample.frame[38..<54]), destination: "fc00:1::1",
                                      quote: Array(sample.frame[14...]))
                #expect(out.verdict == ABI.xdpRedirect, "\(sample.name)")
                #expect(out.data == expected, "\(sample.name): not the ICMPv6 error for it")
                let sent = try dp.icmpCounts()
                #expect(sent[error.type == 3 ? 0 : 1] == icmp[error.type == 3 ? 0 : 1] + 1, "\(sample.name)")
                answered += 1
            } else if sample.reason == .hopLimit {
                #expect(out.verdict == ABI.xdpPass, "\(sample.name)")
                #expect(out.data != sample.frame, "\(sample.name): the kernel gets the processed packet, not the SRv6 one")
            } else {
                #expect(out.verdict == ABI.xdpDrop, "\(sample.name): would leave the node by the default route")
                dropped += 1
            }
            let after = try dp.reasonCounts()
            for reason in SRv6ABI.Reason.allCases {
                #expect(after[reason] == (reasons[reason] ?? 0) + (reason == sample.reason ? 1 : 0), "\(sample.name): \(reason)")
            }
            #expect(try dp.sidStats(sample.sid)[2] == errors + 1, "\(sample.name): not counted as an error of SID \(sample.sid)")
        }
        #expect(answered == 8)
        #expect(dropped == Self.corpus.count - answered - 1)
        #expect(try dp.icmpCounts() == [3, 5, 0])
    }

    /// At most 100 ICMPv6 errors per second and CPU (RFC 4443 §2.4 f); the rest are counted as
    /// not sent, and dropped. The 250 packets run on one CPU; however slow the machine, each
    /// second they span (the program's clock is CLOCK_MONOTONIC) sends at most 100.
    @Test func icmpv6ErrorsAreRateLimited() throws {
        let net = try RouterTopology()
        defer { net.topology.destroy() }
        try net.topology.ip(["-6", "neigh", "add", "fc00:1::1", "lladdr", RouterTopology.h1MAC, "dev", "veth1", "nud", "permanent"],
                            in: net.r)
        let dp = try SRv6Dataplane()
        try dp.setSID(0, SRv6SID(behaviour: SRv6ABI.end, fallback: SRv6ABI.fallbackNone))
        try dp.chain("end", [("srv6_end", 0)])
        let frame = Self.packet(hopLimit: 1, ext: Wire.srh(nextHeader: 41, segmentsLeft: 1, segments: Self.twoSegments))
        var verdicts: [UInt32: Int] = [:]
        func seconds() -> Int { var now = timespec(); clock_gettime(CLOCK_MONOTONIC, &now); return now.tv_sec }
        let first = seconds()
        try net.r.run {
            try CPUAffinity.pinCurrentThread(to: 0)
            for _ in 0..<250 { verdicts[try dp.run("end", frame, ingress: net.ingress).verdict, default: 0] += 1 }
        }
        let windows = seconds() - first + 1
        let counts = try dp.icmpCounts()
        #expect(counts[0] >= 100 && counts[0] <= 100 * UInt64(windows), "\(counts) in \(windows) window(s)")
        #expect(counts[0] + counts[2] == 250 && counts[1] == 0, "\(counts)")
        #expect(verdicts == [ABI.xdpRedirect: Int(counts[0]), ABI.xdpDrop: Int(counts[2])])
    }

    /// The same without the kernel's SRv6, on the wire: h1 sends hop limit 1 to r's End (no
    /// mirror route); r's XDP answers with Time Exceeded from the SID, quoting the packet as h1
    /// sent it. veth1 is marked as unable to take redirected frames (h1's end has no XDP
    /// program), so the error goes to r's kernel, which forwards it to h1.
    @Test func withoutAMirrorRouteTheEndpointAnswersItself() throws {
        let net = try RouterTopology()
        defer { net.topology.destroy() }
        let dp = try SRv6Dataplane()
        try dp.setSID(0, SRv6SID(behaviour: SRv6ABI.end, fallback: SRv6ABI.fallbackNone))
        try dp.chain("end", [("srv6_end", 0)])
        let record = try dp.hike.attach(loader: "srv6_localsid", interface: "veth1", namespace: net.r, chain: nil, defaultVerdict: ABI.xdpPass)
        let chainID = try #require(try dp.hike.registry().chains["end"]).id
        try BPFMap.openPinned("\(record.directory)/srv6_lpm6")
            .update(key: BPFMap.bytesOf(UInt32(128)) + Wire.addr("fc00:e::1"), value: BPFMap.bytesOf(chainID))
        try BPFMap.openPinned("\(dp.hike.pinRoot)/maps/hike_default/hike_tx_unready")
            .update(key: BPFMap.bytesOf(UInt32(net.ingress)), value: BPFMap.bytesOf(UInt32(1)))
        let capture = try FrameCapture(interface: "veth0", in: net.h1)

        let marker = randomMarker()
        let frame = Self.packet(hopLimit: 1, ext: Wire.srh(nextHeader: 41, segmentsLeft: 1, segments: Self.twoSegments),
                                upper: Wire.udp6(source: "fc00:1::1", destination: "fc00:b::2", payload: marker))
        try Traffic.sendFrames([frame], interface: "veth0", in: net.h1)
        let reply = try capture.frame(containing: marker)
        // r's kernel forwarded it: hop limit 64 − 1.
        var expected = Wire.ethernet(RouterTopology.h1MAC, RouterTopology.rLeftMAC)
            + Wire.icmp6Error(type: 3, source: Wire.addr("fc00:e::1"), destination: "fc00:1::1", quote: Array(frame[14...]))
        expected[14 + 7] = 63
        #expect(reply == expected)
        #expect(try dp.icmpCounts() == [1, 0, 0])
        #expect(try dp.reasonCount(.hopLimit) == 1)
    }

    /// Hop limit 1 at our End: the fast path passes it; the kernel's own seg6local End, the
    /// fallback, processes it and answers h1 with ICMPv6 Time Exceeded, as it would alone.
    @Test func theKernelAnswersWhatNeedsAnICMPv6Error() throws {
        try KernelTest.requireKernelSRv6()
        let net = try RouterTopology()
        defer { net.topology.destroy() }
        try net.route(["fc00:b::/64", "via", "fc00:2::2", "dev", "veth2"])
        try net.topology.ip(["-6", "route", "add", "fc00:e::1/128", "encap", "seg6local", "action", "End", "dev", "veth1"], in: net.r)
        let dp = try SRv6Dataplane()
        try dp.setSID(0, SRv6SID(behaviour: SRv6ABI.end))
        try dp.chain("end", [("srv6_end", 0)])
        let record = try dp.hike.attach(loader: "srv6_localsid", interface: "veth1", namespace: net.r, chain: nil, defaultVerdict: ABI.xdpPass)
        let chainID = try #require(try dp.hike.registry().chains["end"]).id
        try BPFMap.openPinned("\(record.directory)/srv6_lpm6")
            .update(key: BPFMap.bytesOf(UInt32(128)) + Wire.addr("fc00:e::1"), value: BPFMap.bytesOf(chainID))
        let capture = try FrameCapture(interface: "veth0", in: net.h1)

        let marker = randomMarker()
        let inner = Wire.udp6(source: "fc00:1::1", destination: "fc00:b::2", payload: marker)
        let frame = Self.packet(hopLimit: 1, ext: Wire.srh(nextHeader: 41, segmentsLeft: 1, segments: Self.twoSegments), upper: inner)
        try Traffic.sendFrames([frame], interface: "veth0", in: net.h1)
        let reply = try capture.frame(containing: marker)
        // Ethernet, IPv6 from the router (its veth1 address) to h1, ICMPv6 type 3 code 0.
        #expect(Array(reply[12..<14]) == [0x86, 0xdd])
        #expect(reply[14 + 6] == 58)
        #expect(Array(reply[14 + 24..<14 + 40]) == Wire.addr("fc00:1::1"))
        #expect(Array(reply[54..<56]) == [3, 0], "ICMPv6 Time Exceeded, hop limit exceeded in transit")
        #expect(try dp.reasonCount(.hopLimit) == 1)
        #expect(try dp.sidStats(0) == [0, 0, 1])
    }
}
