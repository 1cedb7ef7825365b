import BPFKit
@testable import Bench
import Foundation
import HikeTestSupport
import Testing

/// The loss-monitoring scenario's DUTs through the real pipeline: each forwards what the sink
/// must see and monitors exactly what it forwards; and `--paired` rounds (a measuring method,
/// never a speed: benchmarks are not tests).
@Suite(.serialized) struct LossMonitoringBenchTests {
    init() throws {
        try KernelTest.prepare()
    }

    /// 256 frames through each DUT to the inspecting sink: the encapsulated shape (8 bytes more
    /// with AltMark), and pm_sent counting all 256 for the monitored DUTs and none without.
    @Test func eachDUTForwardsAndMonitorsWhatItShould() throws {
        let pipeline = try TrafficPipeline(prefix: KernelTest.prefix)
        defer { pipeline.destroy() }
        let options = TrafficBench.Options.quick
        let (template, destination) = TrafficScenario.lossMonitoring.input(options)
        let frame = try pipeline.frame(template, options: options, innerDestination: destination)
        for dut in TrafficScenario.lossMonitoring.duts(options) where dut != .baseline {
            try pipeline.configure(dut, in: .lossMonitoring, options: options)
            let expected = try #require(TrafficBench.expectedOutput(.lossMonitoring, dut: dut, frame: frame, options: options))
            // Eth 14 + outer IPv6 40 + SRH 8 + 1 SID 16 + the 64-byte frame's IPv6 packet 50.
            #expect(expected.length == (dut == .hikeAltMark ? 136 : 128), "\(dut.rawValue)")
            try TrafficBench.checkOutput(pipeline, frame: frame, expected: expected, options: options)
            try TrafficBench.verify(.lossMonitoring, dut: dut, pipeline: pipeline)
            let hike = try #require(pipeline.scenarioPrograms.hike?.instance)
            let sent = try pipeline.scenarioPrograms.pmMap("pm_sent", in: hike)
            let counted = try [UInt32(2), 3].reduce(UInt64(0)) { $0 + (try TypedMap<UInt32, PacketCounter>(sent).lookupSum($1)?.packets ?? 0) }
            #expect(counted == (dut == .hike ? 0 : 256), "\(dut.rawValue)")
        }
    }

    /// Rounds measure the baseline and every compared DUT once, in reverse every other round;
    /// each comparison is taken per round, over that round's baseline and against that round's
    /// reference.
    @Test func pairedRoundsAlternateTheOrderAndCompareWithinARound() throws {
        var order: [String] = []
        // ns per packet: the baseline 50, DUT costs on top of it hike 200, hike+pm 206 (3 %
        // more), hike+altmark 210 (5 %); round r slows everything by 20 r ns (a drift that hits
        // all alike, the baseline too) and hike+pm by 10 r ns more in round 3 only.
        let costs: [TrafficPipeline.DUT: Double] = [.baseline: 0, .hike: 200, .hikeMonitored: 206, .hikeAltMark: 210]
        let paired = try TrafficBench.pairedComparisons([(.hikeMonitored, .hike), (.hikeAltMark, .hike)], rounds: 3,
                                                        progress: { _ in }) { dut, round in
            order.append(dut.rawValue)
            let extra = dut == .hikeMonitored && round == 3 ? 30.0 : 0
            return 1e9 / (50 + (costs[dut] ?? .nan) + 20 * Double(round) + extra)
        }
        #expect(order == ["baseline", "hike", "hike+pm", "hike+altmark", "hike+altmark", "hike+pm", "hike", "baseline",
                          "baseline", "hike", "hike+pm", "hike+altmark"])
        #expect(paired.map(\.ours) == ["hike+pm", "hike+altmark"] && paired.allSatisfy { $0.reference == "hike" })
        let added = paired[0].addedPercent.samples
        #expect(added.count == 3 && zip(added, [3.0, 3.0, 18.0]).allSatisfy { abs($0 - $1) < 1e-9 }, "\(added)")
        #expect(abs(paired[0].addedPercent.median - 3) < 1e-9)
        #expect(abs(paired[1].costRatio.median - 210.0 / 200) < 1e-9)
    }

    /// A whole run with one paired round: every DUT measured and checked, and the report carries
    /// the scenario's three comparisons with one round each.
    @Test func aRunWithPairedRoundsReportsEveryComparison() throws {
        var options = TrafficBench.Options.quick
        options.searchPDR = false
        options.pairedRounds = 1
        let report = try TrafficBench.run([.lossMonitoring], options: options) { _ in }
        let scenario = try #require(report.scenarios.first)
        #expect(scenario.results.map(\.dut) == TrafficScenario.lossMonitoring.duts(options))
        #expect(scenario.results.allSatisfy { $0.failure == nil }, "\(scenario.results.compactMap(\.failure))")
        let paired = try #require(scenario.paired)
        #expect(paired.map(\.ours) == ["hike+pm", "hike+altmark", "hike+pm_mark"])
        #expect(paired.allSatisfy { $0.costRatio.samples.count == 1 && $0.oursMRR.count == 1 && $0.oursMRR[0] > 0 })
        #expect(report.comparisonLines(scenario).contains { $0.contains("paired MRR (1 rounds)") })
    }
}
