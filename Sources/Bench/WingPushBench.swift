import BPFKit
import CLinux
import Foundation
import NetKit
import Topology
import Wing

/// `hike bench wing`: what hike wing's SRH push costs a host's transmit path. One thread sends
/// UDP datagrams as fast as it can (sendmmsg, 64 at a time) from namespace a to b over a veth
/// whose far end drops them in XDP; the rate with wing_egress pushing an SRH at tc egress is
/// compared with the rate of the same path with no program, and with the kernel's own inline
/// seg6 route where the kernel has one, measured in the same run, one after the other.
///
/// (A BPF_PROG_TEST_RUN loop cannot time a push: the kernel runs the repeats on the same skb,
/// so from the second run on the packet already has its SRH.)
public enum WingPushBench {
    public struct Options: Sendable {
        public var runs: Int
        public var seconds: Double
        public var cpu: Int?
        public var payload: Int

        public init(runs: Int = 5, seconds: Double = 0.5, cpu: Int? = nil, payload: Int = 64) {
            self.runs = runs
            self.seconds = seconds
            self.cpu = cpu
            self.payload = payload
        }
    }

    /// One way of sending: its label and packets per second in each run.
    public struct Row: Codable, Sendable {
        public var label: String
        public var packetsPerSecond: [Double]
        /// Packets per second in the median run.
        public var medianRate: Double {
            let sorted = packetsPerSecond.sorted()
            return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
        }
        /// ns per packet in the median run.
        public var nanoseconds: Double { medianRate == 0 ? 0 : 1e9 / medianRate }
    }

    public struct Report: Codable, Sendable {
        public var kernel: String
        public var payload: Int
        public var rows: [Row]
        /// Why the kernel's inline seg6 row is missing, when it is.
        public var kernelRowMissing: String?

        /// Cost relative to row 0 (no program): the median of the runs' ratios of rates.
        public func cost(_ row: Row) -> Double {
            guard let reference = rows.first else { return 0 }
            let ratios = zip(reference.packetsPerSecond, row.packetsPerSecond).map { $0 / $1 }.sorted()
            return ratios.isEmpty ? 0 : ratios[ratios.count / 2]
        }

        public func table() -> String {
            var lines = ["hike bench wing: kernel \(kernel), one thread sending \(payload)-byte UDP datagrams over a veth "
                         + "(XDP drop at the far end), median of \(rows.first?.packetsPerSecond.count ?? 0) runs"]
            for row in rows {
                lines.append(row.label.padding(toLength: 40, withPad: " ", startingAt: 0)
                             + String(format: "%.3f Mpps  %.0f ns/packet  cost %.2f× no program", row.medianRate / 1e6, row.nanoseconds, cost(row)))
            }
            if let kernelRowMissing { lines.append("kernel inline seg6: not measured (\(kernelRowMissing))") }
            return lines.joined(separator: "\n") + "\n"
        }
    }

    static let destination = "fd00:b::10"
    static let segments = ["fc00:1::e", "fc00:2::e", "fc00:3::e"]

    public static func run(_ options: Options, progress: (String) -> Void) throws -> Report {
        let topology = Topology(prefix: "hike-bench")
        defer { topology.destroy() }
        let (a, b) = (try topology.addNamespace("a"), try topology.addNamespace("b"))
        try topology.addVethPair(a, "veth0", b, "veth0")
        try topology.addAddress("fd00:a::1/64", interface: "veth0", in: a)
        try topology.addAddress("fd00:a::2/64", interface: "veth0", in: b)
        _ = try topology.ip(["-6", "neigh", "replace", "fd00:a::2", "lladdr", "02:00:00:00:00:02", "dev", "veth0", "nud", "permanent"], in: a)
        _ = try topology.ip(["link", "set", "veth0", "address", "02:00:00:00:00:02"], in: b)
        try topology.addRoute([destination + "/128", "via", "fd00:a::2", "dev", "veth0"], in: a)
        // The kernel's inline seg6 route looks the first SID up after rewriting the destination.
        try topology.addRoute(["fc00::/16", "via", "fd00:a::2", "dev", "veth0"], in: a)
        let generator = try GeneratorObject()
        let sink = try b.run { try XDPLink.attach(generator.sink, interface: "veth0") }
        defer { try? sink.detach() }

        let site = WingSite(interface: "veth0", namespace: a.name)
        let configuration = try WingConfiguration.parse("""
            services:
              bench:
                ipv6_addresses: [\(destination)]
                applications:
                  - port: 5001
                    sid: [\(segments.joined(separator: ", "))]
            """)
        var kernelRowMissing: String?
        if try !KernelSRv6.isAvailable { kernelRowMissing = "this kernel has no seg6 routes (CONFIG_IPV6_SEG6_LWTUNNEL)" }
        var rows = [Row(label: "no program", packetsPerSecond: []),
                    Row(label: "wing_egress, SRH with 3 SIDs pushed", packetsPerSecond: [])]
        if kernelRowMissing == nil { rows.append(Row(label: "kernel seg6 route, inline, 3 SIDs", packetsPerSecond: [])) }
        let seconds = options.seconds
        for run in 1...max(options.runs, 1) {
            for index in rows.indices {
                var pushedBefore: UInt64 = 0
                switch index {
                case 1:
                    try WingHost.startClient(configuration, on: site)
                    pushedBefore = try WingHost.status(of: site).counters["egress_pushed"] ?? 0
                case 2:
                    _ = try topology.ip(["-6", "route", "replace", destination + "/128", "encap", "seg6", "mode", "inline", "segs",
                                         segments.joined(separator: ","), "via", "fd00:a::2", "dev", "veth0"], in: a)
                default: break
                }
                defer {
                    if index == 1 { try? WingHost.stop(site) }
                    if index == 2 { _ = try? topology.ip(["-6", "route", "replace", destination + "/128", "via", "fd00:a::2", "dev", "veth0"], in: a) }
                }
                let sent = try a.run {
                    if let cpu = options.cpu { try CPUAffinity.pinCurrentThread(to: cpu) }
                    return try blast(payload: options.payload, seconds: seconds)
                }
                if index == 1 {
                    // Every datagram must have had its SRH pushed, or the row timed something else.
                    let pushed = (try WingHost.status(of: site).counters["egress_pushed"] ?? 0) - pushedBefore
                    guard pushed >= sent else {
                        throw BenchError.unavailable("wing_egress pushed \(pushed) SRHs for \(sent) datagrams")
                    }
                }
                rows[index].packetsPerSecond.append(Double(sent) / seconds)
                progress("run \(run)/\(options.runs)  \(rows[index].label.padding(toLength: 38, withPad: " ", startingAt: 0)) "
                         + String(format: "%.3f Mpps", Double(sent) / seconds / 1e6))
            }
        }
        let kernel = (try? String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown"
        return Report(kernel: kernel, payload: options.payload, rows: rows, kernelRowMissing: kernelRowMissing)
    }

    /// Datagrams sent to [destination]:5001 in `seconds` by this thread.
    static func blast(payload: Int, seconds: Double) throws -> UInt64 {
        let fd = socket(AF_INET6, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError.unavailable("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_port = UInt16(5001).bigEndian
        _ = inet_pton(AF_INET6, destination, &address.sin6_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
        guard connected == 0 else { throw BenchError.unavailable("connect: \(String(cString: strerror(errno)))") }
        var buffer = [UInt8](repeating: 0x5a, count: payload)
        var sent: UInt64 = 0
        let clock = ContinuousClock()
        let end = clock.now + .milliseconds(Int(seconds * 1000))
        while clock.now < end {
            let count = clinux_send_copies(fd, &buffer, payload, 64)
            if count < 0 {
                if errno == ENOBUFS || errno == EAGAIN || errno == EINTR { continue }
                throw BenchError.unavailable("sendmmsg: \(String(cString: strerror(errno)))")
            }
            sent += UInt64(count)
        }
        return sent
    }
}
