import BPFKit
import Foundation
import Topology

/// Three namespaces on one machine: generator → DUT → sink.
///
///     gen [g0] ── [d0] dut [d1] ── [s0] sink
///     fc00:1::1   fc00:1::2  fc00:2::1   fc00:2::2, fc00:3::2 on lo
///
/// gen_live redirects out of g0 (into d0's ring: d0 always has an XDP program). s0 always
/// runs gen_sink. What d0 runs decides the scenario: gen_sink (the no-DUT baseline: generator +
/// veth + XDP_DROP), gen_pass (kernel IPv6 forwarding) or gen_fwd6 (XDP forwarding).
public final class TrafficPipeline: @unchecked Sendable {  // used from one thread
    public static let prefix = "hikeb"

    public enum DUT: String, Codable, Sendable, CaseIterable {
        /// d0 drops and counts: no DUT, the baseline every DUT cost is relative to.
        case baseline
        /// The kernel forwards d0 → d1 (XDP_PASS on d0).
        case kernelForwarding = "kernel"
        /// gen_fwd6 on d0: bpf_fib_lookup + bpf_redirect to d1.
        case xdpForwarding = "xdp"
        /// tailcalls: N no-op programs by constant-index tail calls, then XDP forwarding
        /// (TrafficScenarioTailcalls.swift).
        case raw1 = "raw 1", raw8 = "raw 8"
        /// tailcalls: a HIKe chain of N noop calls then ip6_kroute.
        case hike1 = "hike 1", hike8 = "hike 8"
        /// ddos: the hand-written program, the HIKe chain of the eCLAT script, ipset/ip6tables
        /// (TrafficScenarioDDoS.swift).
        case ddosRaw = "raw", ddosHike = "hike", ddosIpset = "ipset"
    }

    public static let macs: [String: [UInt8]] = [
        "g0": [0x02, 0, 0, 0, 0x01, 0x01], "d0": [0x02, 0, 0, 0, 0x01, 0x02],
        "d1": [0x02, 0, 0, 0, 0x02, 0x01], "s0": [0x02, 0, 0, 0, 0x02, 0x02],
    ]

    public let topology: Topology
    public let gen: NetworkNamespace
    public let dut: NetworkNamespace
    public let sink: NetworkNamespace
    public let programs: GeneratorObject
    private var d0Link: XDPLink?
    private var s0Link: XDPLink?
    private var current: DUT?
    /// The programs of the tailcalls and ddos DUTs, loaded when first needed.
    let scenarioPrograms = TrafficScenarioPrograms()
    /// g0's ifindex in the generator's namespace: where gen_live redirects its frames.
    public let generatorIndex: UInt32

    /// The frame the generator sends: 64-byte Eth/IPv6/UDP, g0 → d0 MAC, fc00:1::1 → fc00:3::2.
    public static func frame(length: Int = 64) -> [UInt8] {
        precondition(length >= 62 && length <= 1500, "frames are 62–1500 bytes")
        let source: [UInt8] = [0xfc, 0x00, 0, 1] + [UInt8](repeating: 0, count: 11) + [1]
        let destination: [UInt8] = [0xfc, 0x00, 0, 3] + [UInt8](repeating: 0, count: 11) + [2]
        let payload = [UInt8](repeating: 0x5a, count: length - 62)
        let udpLength = UInt16(8 + payload.count)
        var udp = be16(1000) + be16(2000) + be16(udpLength) + [0, 0] + payload
        var sum: UInt32 = 0
        let pseudo = source + destination + [0, 0] + be16(udpLength) + [0, 0, 0, 17] + udp
        for index in stride(from: 0, to: pseudo.count, by: 2) {
            sum += UInt32(pseudo[index]) << 8 | UInt32(index + 1 < pseudo.count ? pseudo[index + 1] : 0)
        }
        while sum > 0xffff { sum = (sum & 0xffff) + (sum >> 16) }
        var checksum = ~UInt16(sum)
        if checksum == 0 { checksum = 0xffff }
        udp[6] = UInt8(checksum >> 8)
        udp[7] = UInt8(checksum & 0xff)
        let ethernet = macs["d0"]! + macs["g0"]! + [0x86, 0xdd]
        let ipv6: [UInt8] = [0x60, 0, 0, 0] + be16(udpLength) + [17, 64] + source + destination
        return ethernet + ipv6 + udp
    }

    static func be16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xff)] }
    static func macText(_ mac: [UInt8]) -> String { mac.map { String(format: "%02x", $0) }.joined(separator: ":") }

    /// Builds the namespaces, links, addresses, routes and static neighbours, and loads gen.bpf.o.
    /// On error everything made so far is removed.
    public init(prefix: String = TrafficPipeline.prefix, programs: GeneratorObject? = nil) throws {
        Topology.removeStale(prefix: prefix)
        topology = Topology(prefix: prefix)
        do {
            gen = try topology.addNamespace("gen")
            dut = try topology.addNamespace("dut")
            sink = try topology.addNamespace("sink")
            try topology.addVethPair(gen, "g0", dut, "d0")
            try topology.addVethPair(dut, "d1", sink, "s0")
            for (ns, dev) in [(gen, "g0"), (dut, "d0"), (dut, "d1"), (sink, "s0")] {
                try topology.ip(["link", "set", dev, "address", Self.macText(Self.macs[dev]!)], in: ns)
            }
            try topology.addAddress("fc00:1::1/64", interface: "g0", in: gen)
            try topology.addAddress("fc00:1::2/64", interface: "d0", in: dut)
            try topology.addAddress("fc00:2::1/64", interface: "d1", in: dut)
            try topology.addAddress("fc00:2::2/64", interface: "s0", in: sink)
            try topology.addAddress("fc00:3::2/128", interface: "lo", in: sink)
            try topology.sysctl("net.ipv6.conf.all.forwarding", "1", in: dut)
            try topology.ip(["-6", "neigh", "replace", "fc00:2::2", "lladdr", Self.macText(Self.macs["s0"]!),
                             "dev", "d1", "nud", "permanent"], in: dut)
            try topology.ip(["-6", "neigh", "replace", "fc00:1::1", "lladdr", Self.macText(Self.macs["g0"]!),
                             "dev", "d0", "nud", "permanent"], in: dut)
            try topology.addRoute(["fc00:3::/64", "via", "fc00:2::2", "dev", "d1"], in: dut)
            generatorIndex = UInt32(bitPattern: try gen.run { try NetworkInterface.index(of: "g0") })
            self.programs = try programs ?? GeneratorObject()
            let sinkProgram = self.programs.sink
            s0Link = try sink.run { try XDPLink.attach(sinkProgram, interface: "s0") }
        } catch {
            topology.destroy()
            throw error
        }
    }

    deinit { destroy() }

    /// Detaches the programs and deletes the namespaces. Safe to call twice.
    public func destroy() {
        for link in [d0Link, s0Link] { try? link?.detach() }
        d0Link = nil
        s0Link = nil
        scenarioPrograms.destroy()
        topology.destroy()
    }

    /// Puts the DUT in place on d0 (atomically replacing what was there).
    public func configure(_ dut: DUT) throws {
        let program: BPFProgram = switch dut {
        case .baseline: programs.sink
        case .kernelForwarding: programs.pass
        case .xdpForwarding: programs.forwarder
        default: try scenarioPrograms.program(for: dut, pipeline: self)
        }
        if let d0Link {
            try d0Link.update(to: program)
        } else {
            d0Link = try self.dut.run { try XDPLink.attach(program, interface: "d0") }
        }
        current = dut
    }

    /// Counters of every interface on the path, so drops can be attributed.
    public struct Interfaces: Sendable, Codable {
        public var g0tx: UInt64, d0rx: UInt64, d0rxDropped: UInt64, d1tx: UInt64, d1txDropped: UInt64
        public var s0rx: UInt64, s0rxDropped: UInt64

        static func - (a: Interfaces, b: Interfaces) -> Interfaces {
            Interfaces(g0tx: a.g0tx &- b.g0tx, d0rx: a.d0rx &- b.d0rx, d0rxDropped: a.d0rxDropped &- b.d0rxDropped,
                       d1tx: a.d1tx &- b.d1tx, d1txDropped: a.d1txDropped &- b.d1txDropped,
                       s0rx: a.s0rx &- b.s0rx, s0rxDropped: a.s0rxDropped &- b.s0rxDropped)
        }
    }

    public func interfaces() throws -> Interfaces {
        let g0 = try InterfaceCounters.read("g0", in: gen)
        let d0 = try InterfaceCounters.read("d0", in: dut)
        let d1 = try InterfaceCounters.read("d1", in: dut)
        let s0 = try InterfaceCounters.read("s0", in: sink)
        return Interfaces(g0tx: g0.txPackets, d0rx: d0.rxPackets, d0rxDropped: d0.rxDropped, d1tx: d1.txPackets,
                          d1txDropped: d1.txDropped, s0rx: s0.rxPackets, s0rxDropped: s0.rxDropped)
    }
}

extension TrafficPipeline {
    /// Deletes the namespaces this process made (for a signal handler: the pipeline's own
    /// clean-up does not run when a signal ends the process). Returns their names.
    @discardableResult
    public static func removeOwn(prefix: String = TrafficPipeline.prefix) -> [String] {
        var removed: [String] = []
        for name in NetworkNamespace.list() where name.hasPrefix("\(prefix)-\(getpid())-") {
            if let namespace = try? NetworkNamespace(existing: name), (try? namespace.delete()) != nil {
                removed.append(name)
            }
        }
        return removed
    }
}
