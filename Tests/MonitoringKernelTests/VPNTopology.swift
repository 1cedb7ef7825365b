import BPFKit
import Foundation
import HikeRuntime
import HikeTestSupport
import HikeVM
import Monitoring
import NetKit
import Testing
import Topology

/// h1 — r1 — r2 — h2, the HIKe README's VPN reduced to one direction: h1's kernel encapsulates
/// traffic to fd00:2::/64 in SRv6 (SID list: r2's End.DT6 SID fc00:2::100); r1 (the ingress
/// node, a HIKe instance of its own) marks and counts the flow and forwards it in XDP; r2 (the
/// egress node, another instance) runs pm_loss (the drop program on the link), counts from
/// the mark and hands the packet to the kernel's End.DT6, which delivers the inner packet to h2.
final class VPNTopology: @unchecked Sendable {  // used by one test at a time
    static let sid = "fc00:2::100"
    static let h2Address = "fd00:2::2"
    static let flow: UInt32 = 7
    static let port: UInt16 = 7000

    let topology: Topology
    let h1, r1, r2, h2: NetworkNamespace
    let ingressInstance: TestInstance
    let egressInstance: TestInstance
    var ingress: LocalMonitoredNode { LocalMonitoredNode(instance: ingressInstance.instance, name: "r1") }
    var egress: LocalMonitoredNode { LocalMonitoredNode(instance: egressInstance.instance, name: "r2") }

    /// h1 encapsulates and r2 decapsulates with the kernel's own seg6/seg6local: the suites on
    /// this topology run in the reference VM on a host without them.
    init(mode: MarkingMode, strip: Bool = false) throws {
        try KernelTest.requireKernelSRv6()
        topology = KernelTest.topology()
        do {
            let line = try RouterLine(in: topology)  // h2 is fd00:2::2, Self.h2Address
            (h1, r1, r2, h2) = (line.h1, line.r1, line.r2, line.h2)
            for router in [r1, r2] { try topology.sysctl("net.ipv6.conf.all.seg6_enabled", "1", in: router) }
            try topology.ip(["sr", "tunsrc", "set", "fd00:1::1"], in: h1)
            try topology.addRoute(["fd00:2::/64", "encap", "seg6", "mode", "encap", "segs", Self.sid, "via", "fd00:1::2",
                                   "dev", "veth0"], in: h1)
            try topology.addRoute(["fc00:2::/64", "via", "fd00:12::2", "dev", "veth-r2"], in: r1)
            try topology.addRoute(["\(Self.sid)/128", "encap", "seg6local", "action", "End.DT6", "table", "254",
                                   "dev", "veth-r1"], in: r2)
            // The way back (STAMP replies) is plain IPv6 through the kernels.
            try topology.addRoute(["fd00:1::/64", "via", "fd00:12::1", "dev", "veth-r1"], in: r2)

            ingressInstance = try KernelTest.instance()
            egressInstance = try KernelTest.instance()
        } catch {
            topology.destroy()
            throw error
        }
        try install(mode: mode, strip: strip)
    }

    deinit { topology.destroy() }

    private func install(mode: MarkingMode, strip: Bool) throws {
        for node in [ingress, egress] {
            try node.instance.loadProgram("hike_pass")
            try node.instance.loadProgram("ip6_kroute")
            try node.loadPackage()
        }
        try ingress.addFlow(Self.flow, mode: mode)
        try egress.addFlow(Self.flow, mode: nil, destination: Self.sid)
        try Self.install(ingressInstance.instance, """
            chain pm_ingress
                r2 = \(Self.flow)
                call pm_mark
                call ip6_kroute
            """)
        try Self.install(egressInstance.instance, """
            chain pm_egress
                r2 = 0
                call pm_loss
                r2 = 0
                r3 = \(strip ? 1 : 0)
                call pm_count
                call hike_pass
            """)
        // Only the flow's packets (to the SID) run the chains; neighbour discovery and the rest
        // go to the kernel. r1's egress veth peer (r2) has XDP, so r1 may redirect to it.
        try ingressInstance.instance.attach(loader: "ip6_lpm_classifier", interface: "veth-h1", namespace: r1, chain: nil,
                                            defaultVerdict: ABI.xdpPass, routes: [("\(Self.sid)/128", "pm_ingress")])
        try egressInstance.instance.attach(loader: "ip6_lpm_classifier", interface: "veth-r1", namespace: r2, chain: nil,
                                           defaultVerdict: ABI.xdpPass, routes: [("\(Self.sid)/128", "pm_egress")])
        // h2 may answer in XDP (XDP_TX, the STAMP reflector): its peer needs an XDP program.
        try egressInstance.instance.attach(loader: "ip6_lpm_classifier", interface: "veth-h2", namespace: r2, chain: nil,
                                           defaultVerdict: ABI.xdpPass)
    }

    static func install(_ hike: HikeInstance, _ source: String) throws {
        _ = try hike.install(try ChainAssembler.assemble(source, file: "test"), source: nil)
    }

    /// Packets of the flow marked at r1 and counted (or dropped) at r2, both colours.
    func marked() throws -> UInt64 { try ingress.counters(at: .ingress).filter { $0.flow == Self.flow }.reduce(0) { $0 + $1.packets } }
    func accounted() throws -> UInt64 {
        try egress.counters(at: .egress).filter { $0.flow == Self.flow }.reduce(0) { $0 + $1.packets } + egress.lossInjection().dropped
    }

    /// Waits until every packet r1 marked was counted or dropped at r2.
    func waitUntilSettled() throws {
        try KernelTest.waitUntil("r2 accounts for every packet r1 marked") { try marked() == accounted() }
    }
}

/// Sends the flow's UDP packets from h1 to h2 (h1's kernel encapsulates them). A raw socket
/// with the UDP header written here: a UDP socket would leave the checksum to the veth "hardware"
/// (CHECKSUM_PARTIAL), a note that a frame redirected in XDP loses, and h2 would drop it.
final class FlowSender: @unchecked Sendable {  // fd immutable; the stop flag is behind lock
    private let fd: Int32
    private var destination = sockaddr_in6()
    private let datagram: [UInt8]
    private let lock = NSLock()
    private var stopped = false
    private var thread: Thread?
    private(set) var sent = 0
    /// What stopped the background sender, if anything did.
    private(set) var failure: Error?

    init(in namespace: NetworkNamespace, from source: String = "fd00:1::1", to address: String, port: UInt16) throws {
        var local = sockaddr_in6()
        local.sin6_family = sa_family_t(AF_INET6)
        destination.sin6_family = sa_family_t(AF_INET6)
        guard inet_pton(AF_INET6, address, &destination.sin6_addr) == 1, inet_pton(AF_INET6, source, &local.sin6_addr) == 1,
              let sourceBytes = PacketBuilder.ipv6(source), let destinationBytes = PacketBuilder.ipv6(address) else {
            throw BPFError.invalid("flow sender", "'\(source)' or '\(address)' is not an IPv6 address")
        }
        fd = try namespace.run {
            let fd = socket(AF_INET6, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(IPPROTO_UDP))
            if fd < 0 { throw BPFError(operation: "open raw UDP socket", errno: errno) }
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
            if bound != 0 {
                let error = errno
                close(fd)
                throw BPFError(operation: "bind \(source)", errno: error)
            }
            return fd
        }
        let payload = [UInt8](repeating: 0xa5, count: 64)
        var udp = Bytes.be16(40000) + Bytes.be16(port) + Bytes.be16(UInt16(8 + payload.count)) + [0, 0] + payload
        let checksum = PacketBuilder.transportChecksum(source: sourceBytes, destination: destinationBytes, nextHeader: 17, segment: udp)
        udp[6] = UInt8(checksum >> 8)
        udp[7] = UInt8(checksum & 0xff)
        datagram = udp
    }

    func send(_ count: Int) throws {
        for _ in 0..<count {
            let n = withUnsafePointer(to: &destination) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, datagram, datagram.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
            if n < 0 { throw BPFError(operation: "send to the flow", errno: errno) }
            lock.lock()
            sent += 1
            lock.unlock()
        }
    }

    deinit {
        stop()
        close(fd)
    }

    /// Sends one packet every interval on a thread of its own until stop() (steady traffic for
    /// the wall-clock collector; the pace is a traffic profile, not a synchronisation).
    /// The thread holds the sender weakly: a test that drops it (or throws) ends the thread too.
    func start(every interval: useconds_t) {
        let thread = Thread { [weak self] in
            while let sender = self, !sender.isStopped {
                do {
                    try sender.send(1)
                } catch {
                    sender.lock.lock()
                    sender.failure = error
                    sender.lock.unlock()
                    return
                }
                usleep(interval)
            }
        }
        self.thread = thread
        thread.start()
    }

    var isStopped: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopped
    }

    func stop() {
        lock.lock()
        stopped = true
        lock.unlock()
    }
}
