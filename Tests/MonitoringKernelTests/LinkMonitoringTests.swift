import BPFKit
import Foundation
import HikeControl
import HikeRuntime
import HikeTestSupport
import HikeVM
import Monitoring
import NetKit
import Testing
import Topology

/// Link monitoring (bpf/include/hike/pm_link.h) on real packets, no kernel SRv6 needed:
/// h1 — r1 — r2 — h2 in plain IPv6. r1 forwards h1's packets in XDP (ip6_kroute), which counts
/// and marks them as it sends them on the monitored veth-r2; r2's srv6_localsid loader (no SID:
/// every frame goes on to the kernel) counts them by the mark on veth-r1, clears it, and may
/// drop a share of them (loss injection). The kernel of r2 delivers the rest to h2.
@Suite(.serialized) struct LinkMonitoringTests {
    static let flow: UInt32 = 12  // r1 → r2
    static let port: UInt16 = 7012

    final class Net: @unchecked Sendable {  // used by one test at a time
        let topology = KernelTest.topology()
        let h1, r1, r2, h2: NetworkNamespace
        let r1Instance, r2Instance: TestInstance
        var sender: LocalMonitoredNode { LocalMonitoredNode(instance: r1Instance.instance, name: "r1") }
        var receiver: LocalMonitoredNode { LocalMonitoredNode(instance: r2Instance.instance, name: "r2") }

        init() throws {
            try KernelTest.prepare()
            do {
                let line = try RouterLine(in: topology)
                (h1, r1, r2, h2) = (line.h1, line.r1, line.r2, line.h2)
                try topology.addRoute(["fd00:2::/64", "via", "fd00:12::2", "dev", "veth-r2"], in: r1)
                r1Instance = try KernelTest.instance()
                r2Instance = try KernelTest.instance()
                let r1Hike = r1Instance.instance
                try r1Hike.loadProgram("ip6_kroute")
                _ = try r1Hike.install(try ChainAssembler.assemble("chain forward\n    call ip6_kroute\n", file: "test"), source: nil)
                try r1Hike.attach(loader: "ip6_lpm_classifier", interface: "veth-h1", namespace: r1, chain: nil,
                                  defaultVerdict: ABI.xdpPass, routes: [("fd00:2::/64", "forward")])
                // r2's loader: it must be there for r1 to redirect to veth-r1, and it counts.
                try r2Instance.instance.attach(loader: "srv6_localsid", interface: "veth-r1", namespace: r2, chain: nil,
                                               defaultVerdict: ABI.xdpPass)
            } catch {
                topology.destroy()
                throw error
            }
        }

        deinit { topology.destroy() }

        func monitor(drop: Double = 0) throws {
            try DataPlane(instance: r1Instance.instance).setMonitoredLink(interface: "veth-r2", netns: r1.name, sendFlow: LinkMonitoringTests.flow,
                                                                          receiveFlow: nil, dropPercent: 0)
            try DataPlane(instance: r2Instance.instance).setMonitoredLink(interface: "veth-r1", netns: r2.name, sendFlow: nil,
                                                                          receiveFlow: LinkMonitoringTests.flow, dropPercent: drop)
        }

        func packets(_ node: LocalMonitoredNode, _ point: CountingPoint) throws -> UInt64 {
            try node.counters(at: point).filter { $0.flow == LinkMonitoringTests.flow }.reduce(0) { $0 + $1.packets }
        }
        func sent() throws -> UInt64 { try packets(sender, .ingress) }
        func received() throws -> UInt64 { try packets(receiver, .egress) }
        func dropped() throws -> UInt64 { try receiver.statistics()["dropped"] ?? 0 }

        /// Until every packet r1 counted was counted or dropped at r2.
        func waitUntilSettled() throws {
            try KernelTest.waitUntil("r2 accounts for every packet r1 sent on the link") { try sent() == received() + dropped() }
        }

        /// Sends until r1 forwards in XDP (its neighbour resolved by the kernel's first packets):
        /// from then on every packet is counted on the link.
        func warmUp(_ flow: FlowSender) throws {
            try KernelTest.waitUntil("r1 forwards h1's packets in XDP") {
                try flow.send(1)
                return try sent() > 0
            }
            try waitUntilSettled()
        }
    }

    @Test func whatR1SendsOnTheLinkR2CountsByTheMarkAndClears() throws {
        let net = try Net()
        try net.monitor()
        let links = try DataPlane(instance: net.r1Instance.instance).linkReport(netns: net.r1.name).links
        #expect(links.map(\.interface) == ["veth-r2"])
        #expect(links.first?.sendFlow == Self.flow && links.first?.receiveFlow == nil)
        // The flows were added with the link: DSCP at the sender, counted at the receiver.
        #expect(try net.sender.flows().map(\.mode) == [.dscp])
        #expect(try net.receiver.flows().map(\.flow) == [Self.flow])

        // Warmed up on one port until h2 gets the packets (r1 forwards in XDP, r2's kernel has
        // resolved h2); then 50 on another, which h2 counts apart.
        let warmUp = try FlowSender(in: net.h1, to: "fd00:2::2", port: Self.port)
        let warmCapture = try TrafficClassCapture(in: net.h2, port: Self.port)
        try net.warmUp(warmUp)
        try KernelTest.waitUntil("h2 receives the flow") {
            try warmUp.send(1)
            return !warmCapture.drain().isEmpty
        }
        try net.waitUntilSettled()
        let capture = try TrafficClassCapture(in: net.h2, port: Self.port + 1)
        let flow = try FlowSender(in: net.h1, to: "fd00:2::2", port: Self.port + 1)
        var classes: [UInt8] = []
        let (sentBefore, receivedBefore) = (try net.sent(), try net.received())
        try flow.send(50)
        try net.waitUntilSettled()
        #expect(try net.sent() - sentBefore == 50)
        #expect(try net.received() - receivedBefore == 50)
        #expect(try net.dropped() == 0)
        // What reached h2 has its traffic class as h1 sent it: r2 cleared the mark. Delivery is
        // the kernel's part (6.1 hands h2 49 of the 50 that r2's XDP counted and passed, 6.12
        // all 50): at least 45 are looked at.
        do {
            try KernelTest.waitUntil("h2 receives the flow") {
                classes += capture.drain()
                return classes.count >= 45
            }
        } catch {
            let sent = try NetworkStack(namespace: net.r2).counters(of: "veth-h2"), got = try NetworkStack(namespace: net.h2).counters(of: "veth0")
            Issue.record("h2 captured \(classes.count) of the flow's packets; r2's veth-h2 sent \(sent.txPackets), h2's veth0 received \(got.rxPackets): \(error)")
        }
        #expect(Set(classes) == [0], "traffic classes at h2: \(classes)")
    }

    /// The link drops half of what arrives: what r1 sent is what r2 counted plus what it dropped,
    /// and the collector (r1 as ingress, r2 as egress) finds exactly the drops in the period.
    @Test func aLossyLinkLosesWhatTheCollectorReports() throws {
        let net = try Net()
        try net.monitor()
        let flow = try FlowSender(in: net.h1, to: "fd00:2::2", port: Self.port)
        try net.warmUp(flow)
        let collector = try LossCollector(ingress: net.sender, egress: net.receiver, period: .seconds(1), flows: [Self.flow])
        try collector.start()
        try flow.send(40)
        try collector.flip()
        try net.waitUntilSettled()
        let clean = try #require(try collector.read().flows.first)
        #expect(clean.sent == 40 && clean.lost == 0, "\(clean)")

        try net.monitor(drop: 50)
        #expect(try DataPlane(instance: net.r2Instance.instance).linkReport(netns: net.r2.name).links.first?.dropPercent == 50)
        let droppedBefore = try net.dropped()
        try flow.send(200)
        try collector.flip()
        try net.waitUntilSettled()
        let lossy = try #require(try collector.read().flows.first)
        let dropped = try net.dropped() - droppedBefore
        #expect(lossy.sent == 200)
        #expect(lossy.lost == Int64(dropped), "\(lossy), dropped \(dropped)")
        // Binomial(200, ½): 100 ± 7; 60–140 is 5.7 standard deviations.
        #expect((60...140).contains(dropped), "dropped \(dropped) of 200 at 50 %")
    }

    @Test func badLinksChangeNothing() throws {
        let net = try Net()
        let r1 = DataPlane(instance: net.r1Instance.instance)
        #expect(throws: ControlError.self) {
            try r1.setMonitoredLink(interface: "veth-r2", netns: net.r1.name, sendFlow: 5, receiveFlow: 5, dropPercent: 0)
        }
        #expect(throws: ControlError.self) {
            try r1.setMonitoredLink(interface: "veth-r2", netns: net.r1.name, sendFlow: 5, receiveFlow: nil, dropPercent: 101)
        }
        #expect(throws: ControlError.self) {
            try r1.setMonitoredLink(interface: "nosuch0", netns: net.r1.name, sendFlow: 5, receiveFlow: nil, dropPercent: 0)
        }
        #expect(throws: ControlError.self) { try r1.removeMonitoredLink(interface: "veth-r2", netns: net.r1.name) }
        let node = LocalMonitoredNode(instance: net.r1Instance.instance)
        try node.loadPackage()
        #expect(try node.links().isEmpty)
        #expect(try node.flows().isEmpty)
    }
}

/// The traffic class of each UDP datagram to port that reaches a namespace, from a packet socket
/// (the IPv6 header as it arrived).
final class TrafficClassCapture: @unchecked Sendable {  // used by one test thread
    private let fd: Int32
    private let port: UInt16

    init(in namespace: NetworkNamespace, port: UInt16) throws {
        self.port = port
        let protocolNumber = Int32(UInt16(0x86dd).bigEndian)  // ETH_P_IPV6
        fd = try namespace.run {
            let fd = socket(AF_PACKET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), protocolNumber)
            if fd < 0 { throw BPFError(operation: "open packet socket", errno: errno) }
            return fd
        }
    }

    deinit { close(fd) }

    /// The traffic classes of the datagrams waiting now.
    func drain() -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 2048)
        var classes: [UInt8] = []
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n >= 0 else { return classes }
            // IPv6 header (40 bytes), next header UDP, then the destination port.
            guard n >= 48, buffer[0] >> 4 == 6, buffer[6] == 17, UInt16(buffer[42]) << 8 | UInt16(buffer[43]) == port else { continue }
            classes.append((buffer[0] & 0x0f) << 4 | buffer[1] >> 4)
        }
    }
}
