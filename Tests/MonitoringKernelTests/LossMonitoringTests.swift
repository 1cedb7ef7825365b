import BPFKit
import Foundation
import HikeRuntime
import HikeTestSupport
import Monitoring
import Testing
import Topology

/// Alternate marking end to end: real SRv6 traffic h1 → r1 (marks) → r2 (counts) → h2, and
/// the collector's per-period report.
@Suite(.serialized) struct LossMonitoringTests {
    /// Periods driven by the test: each period's packets are sent and accounted for at r2
    /// (marked = counted + dropped, an observable fact) before the flip that ends it.
    @Test(arguments: [MarkingMode.altmark, MarkingMode.dscp])
    func exactlyKLostInThePeriodWithDrops(mode: MarkingMode) throws {
        let net = try VPNTopology(mode: mode)
        let receiver = try UDPReceiver(in: net.h2, port: VPNTopology.port)
        let sender = try FlowSender(in: net.h1, to: VPNTopology.h2Address, port: VPNTopology.port)
        let collector = try LossCollector(ingress: net.ingress, egress: net.egress, period: .seconds(1))
        let (periods, perPeriod, lossPeriod, k) = (6, 40, 3, 5)
        try collector.start()
        var reports: [PeriodReport] = []
        for p in 1...periods {
            if p == lossPeriod {
                try net.egress.injectLoss(flow: VPNTopology.flow, colour: try net.ingress.activeColour(), count: Int64(k))
            }
            for _ in 0..<(perPeriod / 10) {
                try sender.send(10)
                try net.waitUntilSettled()
                receiver.drain()  // keep the socket's buffer from filling up
            }
            try collector.flip()
            try net.waitUntilSettled()
            reports.append(try collector.read())
        }
        #expect(try net.egress.lossInjection() == (0, UInt64(k)))
        for report in reports {
            let loss = try #require(report.flows.first { $0.flow == VPNTopology.flow })
            #expect(loss.sent == UInt64(perPeriod), "period \(report.period)")
            #expect(loss.lost == (report.period == lossPeriod ? Int64(k) : 0), "period \(report.period): \(loss)")
            #expect(loss.received == loss.sent - UInt64(report.period == lossPeriod ? k : 0))
            #expect(loss.sentBytes - loss.receivedBytes == (loss.sent - loss.received) * (loss.sentBytes / max(1, loss.sent)))
        }
        #expect(reports.map(\.period) == Array(1...periods))
        #expect(reports.map(\.colour) == (0..<periods).map { $0 % 2 == 0 ? .one : .zero })
        // End to end: h2 got every packet but the K dropped (End.DT6 decapsulated them).
        var delivered = 0
        do {
            try KernelTest.waitUntil("h2 receives the flow") {
                delivered = receiver.drain()
                return delivered == periods * perPeriod - k
            }
        } catch {
            Issue.record("h2 received \(delivered) of \(periods * perPeriod - k): \(error)")
        }
    }

    /// The wall-clock collector (flip every T, read at T/2) over steady traffic: ten periods,
    /// no drops, zero loss in each.
    @Test func tenPeriodsWithoutDropsReportZeroLoss() throws {
        let net = try VPNTopology(mode: .dscp)
        let sender = try FlowSender(in: net.h1, to: VPNTopology.h2Address, port: VPNTopology.port)
        try sender.send(1)
        try net.waitUntilSettled()
        sender.start(every: 2_000)
        defer { sender.stop() }  // on every path, a throw included
        let collector = try LossCollector(ingress: net.ingress, egress: net.egress, period: .milliseconds(400))
        let reports = try collector.run(periods: 10)
        sender.stop()
        #expect(sender.failure == nil)
        #expect(reports.count == 10)
        for report in reports {
            let loss = try #require(report.flows.first { $0.flow == VPNTopology.flow })
            #expect(loss.sent > 0, "period \(report.period) saw no traffic")
            #expect(loss.lost == 0 && loss.lossPercent == 0, "period \(report.period): \(loss)")
            #expect(report.read.timeIntervalSince(report.ended) >= 0.199)  // never less than T/2
        }
    }

    /// The wall-clock collector with K drops armed at the flip that starts period 4: exactly K
    /// lost in period 4 and none in the others.
    @Test func wallClockCollectorFindsTheKDropsInTheirPeriod() throws {
        let net = try VPNTopology(mode: .altmark)
        let sender = try FlowSender(in: net.h1, to: VPNTopology.h2Address, port: VPNTopology.port)
        try sender.send(1)
        try net.waitUntilSettled()
        sender.start(every: 2_000)
        defer { sender.stop() }  // on every path, a throw included
        let k = 5
        let collector = try LossCollector(ingress: net.ingress, egress: net.egress, period: .milliseconds(400))
        let reports = try collector.run(periods: 6, onFlip: { flip, colour in
            if flip == 3 { try net.egress.injectLoss(flow: VPNTopology.flow, colour: colour, count: Int64(k)) }
        })
        sender.stop()
        #expect(sender.failure == nil)
        #expect(try net.egress.lossInjection() == (0, UInt64(k)))
        for report in reports {
            let loss = try #require(report.flows.first { $0.flow == VPNTopology.flow })
            #expect(loss.sent > UInt64(k))
            #expect(loss.lost == (report.period == 4 ? Int64(k) : 0), "period \(report.period): \(loss)")
        }
    }
}
