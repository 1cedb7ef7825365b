import BPFKit
import Foundation
import HikeRuntime
import HikeTestSupport
import HikeVM
import NetKit
import Testing
import Topology

/// The srv6 package's ABI as the tests use it (bpf/include/hike/srv6.h), written down here
/// rather than read from the SRv6 module, so the tests check the C against the header's words.
enum SRv6ABI {
    static let encaps: UInt8 = 1, encapsRed: UInt8 = 2, insert: UInt8 = 3, insertRed: UInt8 = 4, encapsL2: UInt8 = 5

    static let end: UInt32 = 1, endX: UInt32 = 2, endT: UInt32 = 3, endDX6: UInt32 = 5, endDX4: UInt32 = 6
    static let endDT6: UInt32 = 7, endDT4: UInt32 = 8, endDT46: UInt32 = 16
    static let endAS: UInt32 = 13, endAM: UInt32 = 14, endAD: UInt32 = 128
    static let innerV6: UInt32 = 1, innerV4: UInt32 = 2, innerEth: UInt32 = 4

    static let psp: UInt32 = 1, usp: UInt32 = 2, usd: UInt32 = 4, nextCSID: UInt32 = 8

    /// SRV6_FALLBACK_*: a kernel route runs the same behaviour (0), or none does (1).
    static let fallbackKernelRoute: UInt16 = 0, fallbackNone: UInt16 = 1

    enum Reason: UInt64, CaseIterable, Sendable {
        case ok = 0, noSRH, badHdrLen, slPastLast, truncated, hopLimit, slZero, slNonZero, badNextHeader, noEntry,
             wrongBehaviour, noRoom, fibMiss, local, notIP, tlv, txUnready, noCache, cacheTooBig, control
    }

    static let programs = ["srv6_h_encaps", "srv6_h_encaps_red", "srv6_h_insert", "srv6_h_insert_red", "srv6_h_encaps_l2",
                           "srv6_end", "srv6_end_x", "srv6_end_t", "srv6_end_dt6", "srv6_end_dt4", "srv6_end_dt46",
                           "srv6_end_dx6", "srv6_end_dx4", "srv6_end_as", "srv6_end_ad", "srv6_end_am"]
}

/// struct srv6_policy, 156 bytes.
struct SRv6Policy {
    var mode: UInt8
    var segments: [String]
    var source: String
    var flags: UInt8 = 0
    var tag: UInt16 = 0
    var hopLimit: UInt8 = 0
    var fallback: UInt16 = SRv6ABI.fallbackKernelRoute
    var pmFlow: UInt32 = 0

    var bytes: [UInt8] {
        var b: [UInt8] = [mode, UInt8(segments.count), flags, hopLimit] + BPFMap.bytesOf(tag) + BPFMap.bytesOf(fallback)
        b += Wire.addr(source)
        for i in 0..<8 { b += i < segments.count ? Wire.addr(segments[i]) : [UInt8](repeating: 0, count: 16) }
        return b + BPFMap.bytesOf(pmFlow)
    }
}

/// struct srv6_sid, 52 bytes.
struct SRv6SID {
    var behaviour: UInt32
    var flavours: UInt32 = 0
    var table: UInt32 = 0
    var oif: UInt32 = 0
    var lblen: UInt8 = 0
    var nflen: UInt8 = 0
    var nh4: String? = nil
    var nh6: String? = nil
    var fallback: UInt16 = SRv6ABI.fallbackKernelRoute
    var iif: UInt32 = 0
    var inner: UInt32 = 0
    var ageMs: UInt32 = 0

    var bytes: [UInt8] {
        var b: [UInt8] = [behaviour, flavours, table, oif].flatMap { BPFMap.bytesOf($0) }
        b += [lblen, nflen] + BPFMap.bytesOf(fallback)
        b += nh4.map(Wire.addr4) ?? [0, 0, 0, 0]
        b += nh6.map(Wire.addr) ?? [UInt8](repeating: 0, count: 16)
        return b + [iif, inner, ageMs].flatMap { BPFMap.bytesOf($0) }
    }
}

/// Packets built field by field from RFC 8200 (IPv6), RFC 8754 (SRH) and RFC 791 (IPv4), so a
/// behaviour's expected output is computed here from the RFC rules, not copied from its output.
enum Wire {
    static func addr(_ text: String) -> [UInt8] { PacketBuilder.address(text) }

    static func addr4(_ text: String) -> [UInt8] {
        let parts = text.split(separator: ".").compactMap { UInt8($0) }
        precondition(parts.count == 4, "'\(text)' is no IPv4 address in a test")
        return parts
    }

    static func mac(_ text: String) -> [UInt8] { text.split(separator: ":").compactMap { UInt8($0, radix: 16) } }

    static func be16(_ v: Int) -> [UInt8] { [UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }

    static func ethernet(_ destination: String, _ source: String, type: UInt16 = 0x86dd) -> [UInt8] {
        PacketBuilder.ethernet(destination: mac(destination), source: mac(source), etherType: type)
    }

    /// An IPv6 header (RFC 8200 §3).
    static func ipv6(trafficClass: UInt8 = 0, flowLabel: UInt32 = 0, payloadLength: Int, nextHeader: UInt8, hopLimit: UInt8,
                     source: String, destination: String) -> [UInt8] {
        let word = UInt32(6) << 28 | UInt32(trafficClass) << 20 | (flowLabel & 0xfffff)
        return [UInt8(word >> 24), UInt8((word >> 16) & 0xff), UInt8((word >> 8) & 0xff), UInt8(word & 0xff)]
            + be16(payloadLength) + [nextHeader, hopLimit] + addr(source) + addr(destination)
    }

    /// A Segment Routing Header (RFC 8754 §2). segments are in SRH order: [0] is the last
    /// segment of the path. Hdr Ext Len and Last Entry follow from the list unless given.
    static func srh(nextHeader: UInt8, segmentsLeft: UInt8, segments: [String], lastEntry: UInt8? = nil, flags: UInt8 = 0,
                    tag: UInt16 = 0, tlvs: [UInt8] = [], hdrExtLen: UInt8? = nil) -> [UInt8] {
        let length = UInt8((segments.count * 16 + tlvs.count) / 8)
        let last: UInt8 = lastEntry ?? UInt8(max(segments.count - 1, 0))
        var header: [UInt8] = [nextHeader, hdrExtLen ?? length, 4, segmentsLeft, last, flags]
        header += be16(Int(tag))
        header += segments.flatMap(addr)
        return header + tlvs
    }

    /// A UDP datagram over IPv6 with its checksum (RFC 8200 §8.1: the final destination).
    static func udp(source: String, destination: String, payload: [UInt8], ports: (UInt16, UInt16) = (1000, 2000)) -> [UInt8] {
        var udp = be16(Int(ports.0)) + be16(Int(ports.1)) + be16(8 + payload.count) + [0, 0] + payload
        let sum = PacketBuilder.transportChecksum(source: addr(source), destination: addr(destination), nextHeader: 17, segment: udp)
        udp[6] = UInt8(sum >> 8)
        udp[7] = UInt8(sum & 0xff)
        return udp
    }

    /// An IPv6 UDP packet (no Ethernet).
    static func udp6(source: String, destination: String, hopLimit: UInt8 = 64, trafficClass: UInt8 = 0, flowLabel: UInt32 = 0,
                     payload: [UInt8] = Array(0..<24)) -> [UInt8] {
        let l4 = udp(source: source, destination: destination, payload: payload)
        return ipv6(trafficClass: trafficClass, flowLabel: flowLabel, payloadLength: l4.count, nextHeader: 17, hopLimit: hopLimit,
                    source: source, destination: destination) + l4
    }

    /// An IPv4 header (RFC 791) with its checksum, then payload.
    static func ipv4(tos: UInt8 = 0, ttl: UInt8 = 64, protocol proto: UInt8 = 17, source: String, destination: String,
                     payload: [UInt8]) -> [UInt8] {
        var h: [UInt8] = [0x45, tos] + be16(20 + payload.count) + [0x12, 0x34, 0x40, 0, ttl, proto, 0, 0]
            + addr4(source) + addr4(destination)
        let sum = ~PacketBuilder.onesComplementSum(h)
        h[10] = UInt8(sum >> 8)
        h[11] = UInt8(sum & 0xff)
        return h + payload
    }

    /// An ICMPv6 error in an IPv6 packet, hop limit 64: Time Exceeded (type 3, RFC 4443 §3.3)
    /// or Parameter Problem (type 4, §3.4, with its pointer), code 0, quoting `quote`.
    static func icmp6Error(type: UInt8, pointer: UInt32 = 0, source: [UInt8], destination: String, quote: [UInt8]) -> [UInt8] {
        var message: [UInt8] = [type, 0, 0, 0, UInt8(pointer >> 24), UInt8((pointer >> 16) & 0xff),
                                UInt8((pointer >> 8) & 0xff), UInt8(pointer & 0xff)] + quote
        let sum = ~PacketBuilder.onesComplementSum(source + addr(destination) + [0, 0] + be16(message.count) + [0, 0, 0, 58] + message)
        message[2] = UInt8(sum >> 8)
        message[3] = UInt8(sum & 0xff)
        return [0x60, 0, 0, 0] + be16(message.count) + [58, 64] + source + addr(destination) + message
    }

    /// The IPv4 header checksum is valid (the header sums to 0xffff).
    static func ipv4ChecksumValid(_ header: ArraySlice<UInt8>) -> Bool {
        PacketBuilder.onesComplementSum(Array(header)) == 0xffff
    }
}

/// One HIKe instance with the srv6 package, hike_default's forwarding and chains made of calls
/// with constant arguments, each behind a detached ip46_classifier (IPv4 and IPv6 frames).
final class SRv6Dataplane {
    let test: TestInstance
    var hike: HikeInstance { test.instance }
    private var loaders: [String: BPFProgram] = [:]
    private var ids: [String: Int32] = [:]

    init() throws {
        test = try KernelTest.instance()
        for name in ["srv6_end", "hike_pass", "ip6_kroute"] { try hike.loadProgram(name) }
        try reloadIDs()
    }

    /// Reads the program IDs again (after loading more programs).
    func reloadIDs() throws {
        for (name, record) in try hike.registry().programs { ids[name] = Int32(record.id) }
    }

    /// A chain calling each program with its argument in turn (nil: none); a final program ends
    /// it, else the chain ends with the default verdict. ip46_classifier runs it on IPv6 and
    /// IPv4 frames; srv6_localsid, configured as on a proxy's interface-in, on every frame.
    func chain(_ name: String, _ calls: [(program: String, argument: Int32?)], loader: String = "ip46_classifier") throws {
        var code: [BPFInstruction] = []
        for call in calls {
            code.append(.mov64(.r1, imm: try #require(ids[call.program], "program \(call.program) is not loaded")))
            if let argument = call.argument { code.append(.mov64(.r2, imm: argument)) }
            code.append(.call(helper: ABI.fnCall))
        }
        code.append(.exit)
        _ = try hike.install([AssembledChain(name: name, instructions: code)], source: nil)
        loaders[name] = try hike.detachedLoader(loader, chain: name, defaultVerdict: ABI.xdpAborted)
    }

    struct Outcome {
        let verdict: UInt32
        let data: [UInt8]
        let r0: UInt64
        var reason: SRv6ABI.Reason? { SRv6ABI.Reason(rawValue: r0) }
    }

    /// Test-runs one frame through a chain as if it came in on ingress (an ifindex of the
    /// namespace the call runs in).
    func run(_ chain: String, _ frame: [UInt8], ingress: Int32 = 1) throws -> Outcome {
        let loader = try #require(loaders[chain], "no chain \(chain)")
        let before = try hike.lastResults()
        let context = [0, UInt32(frame.count), 0, UInt32(ingress), 0, 0].flatMap { BPFMap.bytesOf($0) }
        let run = try loader.testRun(TestRunOptions(data: frame, context: context))
        let result = try #require(try hike.resultAfter(before))
        #expect(result.fault == 0, "the VM faulted (reason \(result.fault)) in chain \(chain)")
        return Outcome(verdict: run.returnValue, data: run.data, r0: result.r0)
    }

    func map(_ name: String) throws -> BPFMap { try BPFMap.openPinned("\(hike.pinRoot)/maps/srv6/\(name)") }

    func setPolicy(_ index: UInt32, _ policy: SRv6Policy) throws {
        try map("srv6_policies").update(key: BPFMap.bytesOf(index), value: policy.bytes)
    }

    func setSID(_ index: UInt32, _ sid: SRv6SID) throws {
        try map("srv6_sids").update(key: BPFMap.bytesOf(index), value: sid.bytes)
    }

    /// packets, bytes, errors of a SID or policy over all CPUs.
    func stats(_ mapName: String, _ index: UInt32) throws -> [UInt64] {
        try summed(map(mapName), key: BPFMap.bytesOf(index), words: 3)
    }

    func sidStats(_ index: UInt32) throws -> [UInt64] { try stats("srv6_sid_stats", index) }

    /// srv6_icmp's packets: Time Exceeded sent, Parameter Problem sent, not sent.
    func icmpCounts() throws -> [UInt64] {
        try (0..<UInt32(3)).map { try summed(map("srv6_icmp"), key: BPFMap.bytesOf($0), words: 1)[0] }
    }
    func policyStats(_ index: UInt32) throws -> [UInt64] { try stats("srv6_policy_stats", index) }

    func reasonCount(_ reason: SRv6ABI.Reason) throws -> UInt64 {
        try summed(map("srv6_reasons"), key: BPFMap.bytesOf(UInt32(reason.rawValue)), words: 1)[0]
    }

    /// Every reason's count, for before/after comparisons.
    func reasonCounts() throws -> [SRv6ABI.Reason: UInt64] {
        var counts: [SRv6ABI.Reason: UInt64] = [:]
        for reason in SRv6ABI.Reason.allCases { counts[reason] = try reasonCount(reason) }
        return counts
    }

    /// The first `words` 64-bit words of a per-CPU value, summed over the CPUs.
    func summedWords(_ mapName: String, _ index: UInt32, words: Int) throws -> [UInt64] {
        try summed(map(mapName), key: BPFMap.bytesOf(index), words: words)
    }

    private func summed(_ map: BPFMap, key: [UInt8], words: Int) throws -> [UInt64] {
        let raw = try #require(try map.lookup(key: key))
        let stride = (map.valueSize + 7) & ~7
        return (0..<words).map { word in
            (0..<(raw.count / stride)).reduce(UInt64(0)) { total, cpu in
                let at = cpu * stride + word * 8
                return total &+ raw[at..<at + 8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
            }
        }
    }
}

/// h1 ─ veth0 ⇄ veth1 ─ r ─ veth2 ⇄ veth0 ─ h2: a router between two hosts, with static
/// neighbours on its egress so bpf_fib_lookup resolves at once.
struct RouterTopology {
    static let h1MAC = "02:00:00:00:01:01", rLeftMAC = "02:00:00:00:01:64"
    static let rRightMAC = "02:00:00:00:02:64", h2MAC = "02:00:00:00:02:02"

    let topology: Topology
    let h1: NetworkNamespace, r: NetworkNamespace, h2: NetworkNamespace
    let ingress: Int32, egress: Int32

    init() throws {
        let topology = KernelTest.topology()
        do {
            let h1 = try topology.addNamespace("h1"), r = try topology.addNamespace("r"), h2 = try topology.addNamespace("h2")
            try topology.addVethPair(h1, "veth0", r, "veth1")
            try topology.addVethPair(r, "veth2", h2, "veth0")
            for (ns, dev, mac) in [(h1, "veth0", Self.h1MAC), (r, "veth1", Self.rLeftMAC), (r, "veth2", Self.rRightMAC),
                                   (h2, "veth0", Self.h2MAC)] {
                try topology.ip(["link", "set", "dev", dev, "address", mac], in: ns)
            }
            try topology.addAddress("fc00:1::1/64", interface: "veth0", in: h1)
            try topology.addAddress("fc00:1::100/64", interface: "veth1", in: r)
            try topology.addAddress("fc00:2::100/64", interface: "veth2", in: r)
            try topology.addAddress("fc00:2::2/64", interface: "veth0", in: h2)
            try topology.addAddress("10.1.0.100/24", interface: "veth1", in: r)
            try topology.addAddress("10.2.0.100/24", interface: "veth2", in: r)
            try topology.addAddress("10.2.0.2/24", interface: "veth0", in: h2)
            try topology.sysctl("net.ipv6.conf.all.forwarding", "1", in: r)
            try topology.sysctl("net.ipv4.conf.all.forwarding", "1", in: r)
            try topology.ip(["-6", "neigh", "add", "fc00:2::2", "lladdr", Self.h2MAC, "dev", "veth2", "nud", "permanent"], in: r)
            try topology.ip(["neigh", "add", "10.2.0.2", "lladdr", Self.h2MAC, "dev", "veth2", "nud", "permanent"], in: r)
            ingress = try r.run { try NetworkInterface.index(of: "veth1") }
            egress = try r.run { try NetworkInterface.index(of: "veth2") }
            self.topology = topology
            self.h1 = h1
            self.r = r
            self.h2 = h2
        } catch {
            topology.destroy()
            throw error
        }
    }

    func route(_ arguments: [String]) throws { try topology.addRoute(arguments, in: r) }

    /// A frame from h1 to the router (its left MAC).
    static func fromH1(_ l3: [UInt8], type: UInt16 = 0x86dd) -> [UInt8] { Wire.ethernet(rLeftMAC, h1MAC, type: type) + l3 }

    /// What the router sends to h2.
    static func toH2(_ l3: [UInt8], type: UInt16 = 0x86dd) -> [UInt8] { Wire.ethernet(h2MAC, rRightMAC, type: type) + l3 }
}

/// Frames arriving on an interface of a namespace, read from an AF_PACKET socket (frames the
/// interface sends are left out).
final class FrameCapture {
    private let fd: Int32
    private static let ethPAll: UInt16 = 3, packetOutgoing: UInt8 = 4  // <linux/if_ether.h>, <linux/if_packet.h>

    init(interface: String, in namespace: NetworkNamespace) throws {
        fd = try namespace.run {
            let all = Self.ethPAll.bigEndian
            let fd = socket(AF_PACKET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue),
                            Int32(all))
            if fd < 0 { throw BPFError(operation: "open a capture socket", errno: errno) }
            // struct sockaddr_ll: family, protocol (network order), ifindex, hatype, pkttype, halen, addr[8].
            var address = [UInt8](repeating: 0, count: 20)
            withUnsafeBytes(of: UInt16(AF_PACKET)) { address.replaceSubrange(0..<2, with: $0) }
            withUnsafeBytes(of: all) { address.replaceSubrange(2..<4, with: $0) }
            let index = try NetworkInterface.index(of: interface)
            withUnsafeBytes(of: index) { address.replaceSubrange(4..<8, with: $0) }
            let bound = address.withUnsafeBytes { bind(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count)) }
            if bound != 0 {
                let error = errno
                close(fd)
                throw BPFError(operation: "bind a capture socket to \(interface)", errno: error)
            }
            return fd
        }
    }

    deinit { close(fd) }

    /// The frames received since the last call.
    func drain() -> [[UInt8]] {
        var frames: [[UInt8]] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            var from = [UInt8](repeating: 0, count: 20)
            var length = socklen_t(from.count)
            let n = buffer.withUnsafeMutableBytes { raw in
                from.withUnsafeMutableBytes {
                    recvfrom(fd, raw.baseAddress, raw.count, 0, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
                }
            }
            if n <= 0 { return frames }
            if from[10] != Self.packetOutgoing { frames.append(Array(buffer[0..<n])) }
        }
    }

    /// The first frame that arrives holding marker, waiting for it (polling the socket).
    func frame(containing marker: [UInt8], timeout: Duration = .seconds(5)) throws -> [UInt8] {
        var found: [UInt8]?
        try KernelTest.waitUntil("a frame holding the test's marker arrives", timeout: timeout) {
            found = drain().first { Self.contains($0, marker) }
            return found != nil
        }
        return try #require(found)
    }

    static func contains(_ frame: [UInt8], _ marker: [UInt8]) -> Bool {
        guard !marker.isEmpty, frame.count >= marker.count else { return false }
        return (0...(frame.count - marker.count)).contains { Array(frame[$0..<$0 + marker.count]) == marker }
    }
}

/// Sixteen random bytes: a payload that tells a test's frame from any other traffic.
func randomMarker() -> [UInt8] { (0..<16).map { _ in UInt8.random(in: 0...255) } }
