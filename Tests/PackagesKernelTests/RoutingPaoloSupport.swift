import BPFKit
import Foundation
import HikeRuntime
import HikeTestSupport
import HikeVM
import NetKit
import Testing
import Topology

/// The routingpaolo tests' MeasurementHarness: chains in the assembler's text, each run behind a
/// detached ip46_classifier whose default verdict is XDP_TX (MeasurementHarness.continued), so a
/// chain that ran to its end (its programs carried on) is told apart from every verdict the
/// programs give (ABORTED, DROP, PASS, REDIRECT).
struct PaoloDataplane {
    let h: MeasurementHarness
    var hike: HikeInstance { h.hike }

    /// The verdict of a packet whose chain ran to its `exit`.
    static let continued = MeasurementHarness.continued
    static let aborted = ABI.xdpAborted, drop = ABI.xdpDrop, pass = ABI.xdpPass, redirect = ABI.xdpRedirect

    /// A new instance with programs loaded (their objects' maps pinned).
    init(programs: [String]) throws { h = try MeasurementHarness(programs: programs) }

    /// Assembles and installs the chains of source (loading the programs they call).
    func install(_ source: String) throws { try h.install(source) }

    struct Outcome {
        let verdict: UInt32
        let data: [UInt8]
        let r0: UInt64
    }

    /// Test-runs one frame through a chain, as if it came in on ingress (an ifindex of the
    /// namespace the call runs in).
    func run(_ chain: String, _ frame: [UInt8], ingress: Int32 = 1) throws -> Outcome {
        let (run, result) = try h.run(chain, frame, defaultVerdict: Self.continued, loader: "ip46_classifier", ingress: ingress)
        #expect(result.fault == 0, "the VM faulted (reason \(result.fault)) in chain \(chain)")
        return Outcome(verdict: run.returnValue, data: run.data, r0: result.r0)
    }

    /// paolo_stats[program * 8 + outcome] (bpf/packages/routingpaolo/routingpaolo.bpf.c).
    func paoloStat(_ program: PaoloProgram, _ outcome: PaoloOutcome) throws -> PacketCounter {
        try h.counter("routingpaolo", "paolo_stats", program.rawValue * 8 + outcome.rawValue)
    }

    /// ip6_dst / chaddr: key u16 (host order) → in6_addr.
    func setAddress(_ map: String, key: UInt16, _ address: String) throws {
        try h.map("routingpaolo", map).update(key: BPFMap.bytesOf(key), value: PacketBuilder.address(address))
    }
}

/// The rows and columns of paolo_stats, as docs/packages.md lists them.
enum PaoloProgram: UInt32 {
    case dstFilter = 0, chaddr, advUSID, kroute, seg6End, seg6End2, seg6Decap, seg6Decap2
}

enum PaoloOutcome: UInt32 {
    case done = 0, notIPv6, hopLimit, noEntry, notTaken, badSRH, segmentsLeft, other
}

/// Frames built field by field from RFC 8200 (IPv6), RFC 8754 (SRH) and RFC 791 (IPv4), so each
/// expected output is computed from the rules, not copied from a program's output.
enum PaoloWire {
    static let h1MAC: [UInt8] = [2, 0, 0, 0, 1, 1], rLeftMAC: [UInt8] = [2, 0, 0, 0, 1, 0x64]
    static let rRightMAC: [UInt8] = [2, 0, 0, 0, 2, 0x64], h2MAC: [UInt8] = [2, 0, 0, 0, 2, 2]

    static func be16(_ v: Int) -> [UInt8] { [UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }

    /// A frame from h1 to the router (its left MAC).
    static func fromH1(_ l3: [UInt8], type: UInt16 = 0x86dd) -> [UInt8] {
        PacketBuilder.ethernet(destination: rLeftMAC, source: h1MAC, etherType: type) + l3
    }

    /// What the router sends to h2.
    static func toH2(_ l3: [UInt8], type: UInt16 = 0x86dd) -> [UInt8] {
        PacketBuilder.ethernet(destination: h2MAC, source: rRightMAC, etherType: type) + l3
    }

    /// An IPv6 header (RFC 8200 §3).
    static func ipv6(trafficClass: UInt8 = 0, flowLabel: UInt32 = 0, payloadLength: Int, nextHeader: UInt8, hopLimit: UInt8 = 64,
                     source: String, destination: String) -> [UInt8] {
        let word = UInt32(6) << 28 | UInt32(trafficClass) << 20 | (flowLabel & 0xfffff)
        return [UInt8(word >> 24), UInt8((word >> 16) & 0xff), UInt8((word >> 8) & 0xff), UInt8(word & 0xff)]
            + be16(payloadLength) + [nextHeader, hopLimit] + PacketBuilder.address(source) + PacketBuilder.address(destination)
    }

    /// A Segment Routing Header (RFC 8754 §2), segments in SRH order ([0] is the path's last).
    static func srh(nextHeader: UInt8, segmentsLeft: UInt8, segments: [String], tag: UInt16 = 0, flags: UInt8 = 0,
                    routingType: UInt8 = 4) -> [UInt8] {
        [nextHeader, UInt8(segments.count * 2), routingType, segmentsLeft, UInt8(max(segments.count - 1, 0)), flags]
            + be16(Int(tag)) + segments.flatMap(PacketBuilder.address)
    }

    /// A Destination Options header holding one PadN option (8 bytes).
    static func destinationOptions(nextHeader: UInt8) -> [UInt8] { [nextHeader, 0, 1, 4, 0, 0, 0, 0] }

    /// An IPv6 UDP packet with its checksum (no Ethernet).
    static func udp6(source: String = "fc00:1::1", destination: String, hopLimit: UInt8 = 64, trafficClass: UInt8 = 0,
                     flowLabel: UInt32 = 0, payload: [UInt8] = Array(0..<24)) -> [UInt8] {
        var udp = be16(1000) + be16(2000) + be16(8 + payload.count) + [0, 0] + payload
        let sum = PacketBuilder.transportChecksum(source: PacketBuilder.address(source), destination: PacketBuilder.address(destination), nextHeader: 17, segment: udp)
        udp[6] = UInt8(sum >> 8)
        udp[7] = UInt8(sum & 0xff)
        return ipv6(trafficClass: trafficClass, flowLabel: flowLabel, payloadLength: udp.count, nextHeader: 17, hopLimit: hopLimit,
                    source: source, destination: destination) + udp
    }

    /// An IPv4 UDP-sized packet (RFC 791) with its header checksum.
    static func ipv4(ttl: UInt8 = 64, payload: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]) -> [UInt8] {
        var h: [UInt8] = [0x45, 0] + be16(20 + payload.count) + [0x12, 0x34, 0x40, 0, ttl, 17, 0, 0] + [10, 1, 0, 1] + [10, 9, 0, 9]
        let sum = ~PacketBuilder.onesComplementSum(h)
        h[10] = UInt8(sum >> 8)
        h[11] = UInt8(sum & 0xff)
        return h + payload
    }

    /// An SRv6 packet from h1 (IPv6 + extension headers + inner), without Ethernet.
    static func srv6(to destination: String, hopLimit: UInt8 = 64, extensions: [UInt8], firstNextHeader: UInt8,
                     inner: [UInt8]) -> [UInt8] {
        ipv6(payloadLength: extensions.count + inner.count, nextHeader: firstNextHeader, hopLimit: hopLimit,
             source: "fc00:1::1", destination: destination) + extensions + inner
    }

    /// l3 with a new destination (and hop limit).
    static func withDestination(_ l3: [UInt8], _ destination: String, hopLimit: UInt8? = nil) -> [UInt8] {
        var out = l3
        out.replaceSubrange(24..<40, with: PacketBuilder.address(destination))
        if let hopLimit { out[7] = hopLimit }
        return out
    }
}

/// h1 ─ veth0 ⇄ veth1 ─ r ─ veth2 ⇄ veth0 ─ h2, forwarding on, h2's neighbour entry static, so
/// bpf_fib_lookup in r resolves fc00:2::2 at once.
struct PaoloRouter {
    let topology: Topology
    let r: NetworkNamespace
    let ingress: Int32

    init() throws {
        let topology = KernelTest.topology()
        do {
            let h1 = try topology.addNamespace("h1"), r = try topology.addNamespace("r"), h2 = try topology.addNamespace("h2")
            try topology.addVethPair(h1, "veth0", r, "veth1")
            try topology.addVethPair(r, "veth2", h2, "veth0")
            func mac(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined(separator: ":") }
            try topology.ip(["link", "set", "dev", "veth1", "address", mac(PaoloWire.rLeftMAC)], in: r)
            try topology.ip(["link", "set", "dev", "veth2", "address", mac(PaoloWire.rRightMAC)], in: r)
            try topology.addAddress("fc00:1::100/64", interface: "veth1", in: r)
            try topology.addAddress("fc00:2::100/64", interface: "veth2", in: r)
            try topology.addAddress("fc00:2::2/64", interface: "veth0", in: h2)
            try topology.sysctl("net.ipv6.conf.all.forwarding", "1", in: r)
            try topology.ip(["-6", "neigh", "add", "fc00:2::2", "lladdr", mac(PaoloWire.h2MAC), "dev", "veth2", "nud", "permanent"], in: r)
            ingress = try r.run { try NetworkInterface.index(of: "veth1") }
            self.topology = topology
            self.r = r
        } catch {
            topology.destroy()
            throw error
        }
    }
}
