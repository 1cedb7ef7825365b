import BPFKit
import Foundation
import HikeTestSupport
import Monitoring
import Testing

/// The collector's bookkeeping against a real pm package (BPF_PROG_TEST_RUN): one instance is
/// both ends (pm_sent and pm_recv are separate maps), packets marked by pm_mark are counted by
/// pm_count when the test says they arrive.
@Suite(.serialized) struct CollectorTests {
    let h: PMHarness
    let frame = SRv6Packet.frame(segments: PMPackageTests.path)

    init() throws {
        h = try PMHarness()
        try h.install("""
            chain mark7
                r2 = 7
                call pm_mark
                exit
            chain count0
                r2 = 0
                r3 = 0
                call pm_count
                exit
            """)
        try h.node.addFlow(7, mode: .altmark)
    }

    /// n packets marked at the ingress and counted at the egress.
    func pass(_ n: Int) throws {
        for _ in 0..<n {
            let (marked, _) = try h.run("mark7", frame)
            #expect(try h.run("count0", marked.data).1.r0 == 0)
        }
    }

    /// A real node whose flip runs a hook right after it: a packet in flight reaching the
    /// egress just then, at a known point instead of a race.
    final class FlipHook: MonitoredNode, @unchecked Sendable {  // used by one test thread
        let node: LocalMonitoredNode
        var afterFlip: (() throws -> Void)?
        init(_ node: LocalMonitoredNode) { self.node = node }
        var name: String { node.name }
        func counters(at point: CountingPoint) throws -> [FlowCounter] { try node.counters(at: point) }
        func activeColour() throws -> Colour { try node.activeColour() }
        func setActiveColour(_ colour: Colour) throws {
            try node.setActiveColour(colour)
            let hook = afterFlip
            afterFlip = nil
            try hook?()
        }
    }

    /// A packet of colour 0 marked before start() and counted at the egress after its flip
    /// belongs to no measured period: taking colour 0's baseline before the flip made period 2
    /// report one packet more received than sent.
    @Test func aPacketInFlightAtTheStartIsNoPhantomLoss() throws {
        #expect(try h.node.activeColour() == .zero)
        let (inFlight, _) = try h.run("mark7", frame)
        let ingress = FlipHook(h.node)
        let h = self.h
        ingress.afterFlip = {
            let arrived = try h.run("count0", inFlight.data)
            #expect(arrived.1.r0 == 0)
        }
        let collector = try LossCollector(ingress: ingress, egress: h.node, period: .milliseconds(20))
        try collector.start()
        #expect(ingress.afterFlip == nil)  // the in-flight packet arrived after the flip
        try pass(1)
        try collector.flip()
        let first = try collector.read()
        try pass(2)
        try collector.flip()
        let second = try collector.read()
        #expect(first.colour == .one && second.colour == .zero)
        let loss1 = try #require(first.flows.first), loss2 = try #require(second.flows.first)
        #expect(loss1.sent == 1 && loss1.received == 1 && loss1.lost == 0, "\(loss1)")
        #expect(loss2.sent == 2 && loss2.received == 2 && loss2.lost == 0, "\(loss2)")
    }

    /// A flow removed and added again restarts its counters at 0: the period that sees its
    /// counter below the baseline names the flow in countersReset instead of reporting a
    /// wrapped-around figure, and the next period of that colour is exact again.
    @Test func aCounterResetIsNamedNotAWrappedLoss() throws {
        let collector = try LossCollector(ingress: h.node, egress: h.node, period: .milliseconds(20))
        try collector.start()
        try pass(3)  // colour 1
        try collector.flip()
        let first = try collector.read()
        #expect(first.flows.map(\.sent) == [3] && first.countersReset.isEmpty)
        try h.node.removeFlow(7)
        try h.node.addFlow(7, mode: .altmark)
        try pass(2)  // colour 0, from a fresh counter (its baseline was 0)
        try collector.flip()
        let second = try collector.read()
        #expect(second.flows.map(\.sent) == [2] && second.flows.map(\.lost) == [0])
        try pass(1)  // colour 1: its counter (1) is below the baseline (3)
        try collector.flip()
        let third = try collector.read()
        #expect(third.flows.isEmpty, "\(third.flows)")
        #expect(third.countersReset == [7])
        try pass(4)  // colour 0
        try collector.flip()
        #expect(try collector.read().flows.map(\.sent) == [4])
        try pass(2)  // colour 1, measured from the re-baselined counter
        try collector.flip()
        let fifth = try collector.read()
        #expect(fifth.flows.map(\.sent) == [2] && fifth.flows.map(\.lost) == [0] && fifth.countersReset.isEmpty)
    }
}
