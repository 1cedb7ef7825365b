import BPFKit
import Foundation
import NetKit
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

    /// A device under test: what d0 runs (and what the DUT namespace's kernel is configured to
    /// do) in a scenario. A name, so that scenarios with many variants (tailcalls N = 1…8) need no
    /// case each; the same name means the same thing only within one scenario ("hike" is the DDoS
    /// chain in ddos, H.Encaps in srv6-encap).
    public struct DUT: RawRepresentable, Hashable, Codable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public init(from decoder: any Decoder) throws {
            rawValue = try decoder.singleValueContainer().decode(String.self)
        }
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(rawValue)
        }

        /// d0 drops and counts: no DUT, the baseline every DUT cost is relative to.
        public static let baseline = DUT(rawValue: "baseline")
        /// The kernel forwards d0 → d1 (XDP_PASS on d0).
        public static let kernelForwarding = DUT(rawValue: "kernel")
        /// gen_fwd6 on d0: bpf_fib_lookup + bpf_redirect to d1 (srv6-*: the input forwarded as it
        /// is, by its outer destination).
        public static let xdpForwarding = DUT(rawValue: "xdp")
        /// The scenario's HIKe chain (ipv6-forwarding: ip6_kroute alone; srv6-*: the behaviour then
        /// forwarding; ddos: the eCLAT script).
        public static let hike = DUT(rawValue: "hike")
        /// loss-monitoring: the forwarding chain with the pm package's marking and counting.
        public static let hikeMonitored = DUT(rawValue: "hike+pm")
        /// tailcalls: N no-op programs by constant-index tail calls, then XDP forwarding
        /// (TrafficScenarioTailcalls.swift).
        public static func raw(_ calls: Int) -> DUT { DUT(rawValue: "raw \(calls)") }
        /// tailcalls: a HIKe chain of N noop calls then ip6_kroute.
        public static func hike(_ calls: Int) -> DUT { DUT(rawValue: "hike \(calls)") }
        public static let raw1 = raw(1), raw8 = raw(8), hike1 = hike(1), hike8 = hike(8)
        /// ddos: the hand-written program, the HIKe chain of the eCLAT script, ipset/ip6tables
        /// (TrafficScenarioDDoS.swift).
        public static let ddosRaw = DUT(rawValue: "raw"), ddosHike = hike, ddosIpset = DUT(rawValue: "ipset")
        /// srv6-proxy: the SR proxies, with a reflecting function behind them (TrafficScenarioProxy.swift).
        public static let endAD = DUT(rawValue: "End.AD"), endAS = DUT(rawValue: "End.AS")
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
    /// The programs of the tailcalls and ddos DUTs, loaded when first needed.
    let scenarioPrograms = TrafficScenarioPrograms()
    /// g0's ifindex in the generator's namespace: where gen_live redirects its frames.
    public let generatorIndex: UInt32

    /// The frame the generator sends for `input`: from g0 to d0, `options.frameLength` bytes for
    /// a plain IPv6 or IPv4 packet; an SRv6 template wraps that same packet, so its frame is
    /// longer by the outer header and the SRH. `innerDestination` is the IPv6 packet's destination.
    public func frame(_ input: PacketTemplate, options: TrafficBench.Options,
                      innerDestination: [UInt8] = PacketTemplate.ipv6Destination) throws -> PacketTemplate.Frame {
        try input.frame(length: options.frameLength + input.encapsulationOverhead, sourceMAC: Self.macs["g0"] ?? [],
                        destinationMAC: Self.macs["d0"] ?? [], innerDestination: innerDestination)
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
            // IPv4 for the IPv4/UDP template: the same shape, 10.0.{1,2}.0/24 and 10.0.3.2 on lo.
            try topology.addAddress("10.0.1.1/24", interface: "g0", in: gen)
            try topology.addAddress("10.0.1.2/24", interface: "d0", in: dut)
            try topology.addAddress("10.0.2.1/24", interface: "d1", in: dut)
            try topology.addAddress("10.0.2.2/24", interface: "s0", in: sink)
            try topology.addAddress("10.0.3.2/32", interface: "lo", in: sink)
            try topology.sysctl("net.ipv4.ip_forward", "1", in: dut)
            try topology.ip(["-4", "neigh", "replace", "10.0.2.2", "lladdr", Self.macText(Self.macs["s0"]!),
                             "dev", "d1", "nud", "permanent"], in: dut)
            try topology.ip(["-4", "route", "add", "10.0.3.0/24", "via", "10.0.2.2", "dev", "d1"], in: dut)
            try topology.ip(["-4", "route", "add", "10.0.1.0/24", "via", "10.0.2.1", "dev", "s0"], in: sink)
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

    /// Puts the DUT of a scenario in place on d0 (atomically replacing what was there).
    public func configure(_ dut: DUT, in scenario: TrafficScenario, options: TrafficBench.Options = .init()) throws {
        let program: BPFProgram
        dropCounter = nil
        switch (scenario, dut) {
        case (_, .baseline): program = programs.sink
        case (.fastdrop, .fastdrop), (.fastdrop, .fastdropTrie):
            let made = try scenarioPrograms.fastdropProgram(dut)
            program = made.program
            dropCounter = made.counter
        case (.ipv6Forwarding, .kernelForwarding), (.generator, .kernelForwarding): program = programs.pass
        case (.ipv6Forwarding, .xdpForwarding): program = programs.forwarder
        case (.srv6Encap, .kernelForwarding), (.srv6End, .kernelForwarding), (.srv6EndDT6, .kernelForwarding):
            let support = try KernelSRv6.support
            guard support.available else {
                throw BenchError.unavailable(support.reason)
            }
            try scenarioPrograms.kernelSRv6(self, options: options)
            program = programs.pass
        case (.srv6Encap, .xdpForwarding), (.srv6End, .xdpForwarding), (.srv6EndDT6, .xdpForwarding):
            try scenarioPrograms.plainSRv6Routes(self)
            program = programs.forwarder
        default: program = try scenarioPrograms.program(for: dut, in: scenario, pipeline: self, options: options)
        }
        try attach(program, on: .d0)
    }

    /// Where delivered frames are counted when a DUT drops every one by design (fastdrop: its
    /// own dropped slot, 0); nil: gen_sink (on s0, or on d0 for the baseline).
    var dropCounter: TypedMap<UInt32, PacketCounter>?

    /// The frames delivered so far (summed over CPUs).
    func delivered() throws -> PacketCounter {
        if let dropCounter { return try dropCounter.lookupSum(0) ?? .zero }
        return try programs.sinkCounter()
    }

    /// The frames delivered so far on each CPU.
    func deliveredPerCPU() throws -> [PacketCounter] {
        if let dropCounter { return try dropCounter.lookupPerCPU(0) ?? [] }
        return try programs.sinkCounterPerCPU()
    }

    /// Zeroes the generator's and sink's counters and the DUT's own.
    func resetCounters() throws {
        try programs.resetCounters()
        if let dropCounter {
            for key in 0..<dropCounter.map.info.maxEntries { try dropCounter.update(key, .zero) }
        }
    }

    /// The two interfaces whose XDP program changes: d0 (the DUT) and s0 (the sink).
    public enum Attachment: Sendable { case d0, s0 }

    /// Replaces the XDP program on d0 or s0 (tests put gen_inspect or gen_pass there).
    public func attach(_ program: BPFProgram, on interface: Attachment) throws {
        switch interface {
        case .d0:
            if let d0Link { try d0Link.update(to: program) } else { d0Link = try dut.run { try XDPLink.attach(program, interface: "d0") } }
        case .s0:
            if let s0Link { try s0Link.update(to: program) } else { s0Link = try sink.run { try XDPLink.attach(program, interface: "s0") } }
        }
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
