@testable import Bench
import Foundation
import Testing

/// The logic of `hike bench run` that needs no kernel: the stability pre-check's retries, the
/// PDR search on a model pipeline, and a run that goes on past a DUT that fails.
struct BenchSearchTests {
    /// A trial of a model pipeline: the sink gets `delivered` of the `requested` rate.
    static func trial(requested: Double, delivered: Double) -> TrafficBench.Trial {
        let zero = TrafficPipeline.Interfaces(g0tx: 0, d0rx: 0, d0rxDropped: 0, d1tx: 0, d1txDropped: 0, s0rx: 0, s0rxDropped: 0)
        return TrafficBench.Trial(requestedPPS: requested, offeredPPS: requested, deliveredPPS: delivered,
                                  deliveredBytesPerSecond: delivered * 64, seconds: 1, interfaces: zero, sinkShareByCPU: [1])
    }

    static var options: TrafficBench.Options {
        var options = TrafficBench.Options()
        options.precheckAttempts = 3
        options.precheckPauseSeconds = 0.5
        return options
    }

    @Test func aPreCheckThatLosesIsRetriedAndMayPass() throws {
        var pauses: [Double] = [], calls = 0, lines: [String] = []
        // The first two trials lose 10 % (another tenant on the CPU), the third loses nothing.
        let (passed, failed) = try TrafficBench.stabilityCheck(rate: 1e6, options: Self.options, progress: { lines.append($0) },
                                                               pause: { pauses.append($0) }) { rate in
            calls += 1
            return Self.trial(requested: rate, delivered: calls < 3 ? rate * 0.9 : rate)
        }
        #expect(calls == 3)
        #expect(failed.count == 2)
        #expect(passed.deliveredPPS == 1e6)
        #expect(pauses == [0.5, 1.0])  // grows with each attempt
        #expect(lines.count == 2 && lines.allSatisfy { $0.contains("retrying") })
    }

    @Test func aPreCheckThatKeepsLosingStopsAfterTheLastAttempt() {
        var calls = 0
        #expect {
            _ = try TrafficBench.stabilityCheck(rate: 2e6, options: Self.options, progress: { _ in }, pause: { _ in }) { rate in
                calls += 1
                return Self.trial(requested: rate, delivered: rate * 0.5)
            }
        } throws: { error in
            guard case BenchError.unstable(let rate, let attempts, let losses) = error else { return false }
            return rate == 2e6 && attempts == 3 && losses == "50.00 %, 50.00 %, 50.00 %"
        }
        #expect(calls == 3)
    }

    @Test func aPreCheckWithinTheLossThresholdPassesAtOnce() throws {
        var calls = 0
        let (_, failed) = try TrafficBench.stabilityCheck(rate: 1e6, options: Self.options, progress: { _ in },
                                                          pause: { _ in Issue.record("no pause expected") }) { rate in
            calls += 1
            return Self.trial(requested: rate, delivered: rate * 0.996)  // 0.4 % < 0.5 %
        }
        #expect(calls == 1 && failed.isEmpty)
    }

    /// A pipeline that delivers at most 3 Mpps: the PDR lies in [3 Mpps × (1 − ε), 3 Mpps / (1 − X)].
    @Test func theSearchFindsTheModelsCapacity() throws {
        let capacity = 3e6
        let search = try TrafficBench.searchPDR(low: 1e6, high: 10e6, options: Self.options, progress: { _ in },
                                                pause: { _ in }) { rate in
            Self.trial(requested: rate, delivered: min(rate, capacity))
        }
        #expect(search.pdr >= capacity * (1 - Self.options.precision) - 1)
        #expect(search.pdr <= capacity / (1 - Self.options.lossThreshold))
        #expect((search.failed - search.pdr) / search.failed <= Self.options.precision)
        #expect(search.precheckRetries == nil)
    }

    @Test func theSearchKeepsTheRetriedPreChecks() throws {
        var first = true
        let search = try TrafficBench.searchPDR(low: 1e6, high: 2e6, options: Self.options, progress: { _ in },
                                                pause: { _ in }) { rate in
            defer { first = false }
            return Self.trial(requested: rate, delivered: first ? 0 : rate)
        }
        #expect(search.precheckRetries?.count == 1)
        #expect(search.trials.first?.deliveredPPS == 1e6)  // the passing pre-check starts the search
    }

    static func measured(_ dut: TrafficPipeline.DUT, rate: Double) -> TrafficBench.DUTResult {
        TrafficBench.DUTResult(dut: dut, mrr: .init([rate]), offered: .init([rate]), pdr: .init([rate]), ndr: .init([rate]),
                               mrrTrials: [], searches: [], forwarderCounts: nil)
    }

    struct Unstable: Error, CustomStringConvertible { var description: String { "pre-check lost 7 %" } }

    /// One DUT fails: it is reported as failed with the reason, the DUTs after it are measured,
    /// and a scenario with the same input reuses the baseline instead of measuring it again.
    @Test func aFailingDUTIsReportedAndTheOthersComplete() throws {
        var measured: [String] = []
        let results = TrafficBench.runScenarios([.ipv6Forwarding, .tailcalls], options: { var o = Self.options; o.tailcallLengths = [1]; return o }(),
                                                progress: { _ in }) { scenario, dut in
            measured.append("\(scenario.rawValue)/\(dut.rawValue)")
            if scenario == .ipv6Forwarding && dut == .kernelForwarding { throw Unstable() }
            return Self.measured(dut, rate: dut == .baseline ? 10e6 : 4e6)
        }
        #expect(measured == ["ipv6-forwarding/baseline", "ipv6-forwarding/kernel", "ipv6-forwarding/xdp", "ipv6-forwarding/hike",
                             "tailcalls/raw 1", "tailcalls/hike 1"])
        let forwarding = results[0]
        #expect(forwarding.results.map(\.dut.rawValue) == ["baseline", "kernel", "xdp", "hike"])
        #expect(forwarding.results[1].failure == "pre-check lost 7 %")
        #expect(forwarding.results.filter { $0.failure == nil }.count == 3)
        #expect(results[1].results.first?.dut == .baseline && results[1].results.first?.failure == nil)

        // The report shows the failure and still computes the others' costs and ratios.
        let setup = TrafficReport.Setup(date: "2026-11-23T00:00:00Z", kernel: "6.18", cpus: 2, options: Self.options, frameBytes: 64)
        let report = TrafficReport(setup: setup, scenarios: results)
        let table = report.table()
        #expect(table.contains("kernel        failed: pre-check lost 7 %"))
        #expect(report.csv().contains("ipv6-forwarding,kernel,failed: pre-check lost 7 %,"))
        #expect(report.markdown().contains("| ipv6-forwarding | kernel | failed: pre-check lost 7 % | | | | |"))
        // xdp against a failed kernel: no ratio; hike/raw at N = 1: 4/4.
        #expect(!report.comparisonLines(forwarding).contains { $0.hasPrefix("xdp/kernel") })
        #expect(report.comparisonLines(results[1]).contains("N = 1: raw 4.000, hike 4.000 Mpps, hike/raw 100 % (by MRR 100 %)"))
    }

    /// A DUT this host cannot run is "not measured", with why, in every format; the SRv6
    /// scenarios compare hike with bare XDP forwarding all the same.
    @Test func aDUTTheHostCannotRunIsNotMeasured() throws {
        let results = TrafficBench.runScenarios([.srv6End], options: Self.options, progress: { _ in }) { _, dut in
            if dut == .kernelForwarding { throw BenchError.unavailable("no seg6local here") }
            return Self.measured(dut, rate: dut == .baseline ? 10e6 : dut == .xdpForwarding ? 5e6 : 4e6)
        }
        #expect(results[0].results.map(\.dut.rawValue) == ["baseline", "xdp", "kernel", "hike"])
        #expect(results[0].results[2].unavailable == true)
        let setup = TrafficReport.Setup(date: "2026-12-06T00:00:00Z", kernel: "6.18", cpus: 2, options: Self.options, frameBytes: 64)
        let report = TrafficReport(setup: setup, scenarios: results)
        #expect(report.table().contains("kernel        not measured: no seg6local here"))
        #expect(report.csv().contains("srv6-end,kernel,not measured: no seg6local here,"))
        #expect(report.markdown().contains("| srv6-end | kernel | not measured: no seg6local here | | | | |"))
        // Costs over the 100 ns baseline: hike 150 ns, xdp 100 ns.
        #expect(report.comparisonLines(results[0]).contains { $0.hasPrefix("hike/xdp: rate 80 %, DUT cost 1.50 (150 / 100 ns)") })
    }

    @Test func theTailcallFigureIsAnSVG() throws {
        var options = Self.options
        options.tailcallLengths = [1, 2, 4, 8]
        let rows = [TrafficPipeline.DUT.baseline] + options.tailcallLengths.flatMap { [TrafficPipeline.DUT.raw($0), .hike($0)] }
        let results = rows.enumerated().map { Self.measured($0.element, rate: 6e6 - Double($0.offset) * 2e5) }
        let setup = TrafficReport.Setup(date: "2026-11-23T00:00:00Z", kernel: "6.18", cpus: 2, options: options, frameBytes: 64)
        let report = TrafficReport(setup: setup, scenarios: [.init(scenario: "tailcalls", skipped: nil, results: results)])
        let figure = try #require(report.tailcallPlot(report.scenarios[0]))
        let svg = try BenchReportTests.parseSVG(figure.svg)
        #expect(svg.width == 760 && svg.height == 460)
        #expect(svg.texts.contains("tailcalls: N no-op programs, then forwarding"))
        #expect(report.tailcallRows(report.scenarios[0]).map(\.calls) == [1, 2, 4, 8])
    }
}

/// Trials disturbed by other tasks on the generator's CPU (a shared 2-core VM).
struct BenchInterferenceTests {
    @Test func cpuTimesComeFromProcStat() throws {
        let stat = """
            cpu  477901 13 215518 1158348 7180 0 108754 3733 0 0
            cpu0 223838 6 150913 501658 1264 0 105890 2018 0 0
            cpu1 254063 7 64605 656690 5915 0 2863 1715 0 0
            """
        let cpu1 = try #require(CPUTimes.read(cpu: 1, stat: stat))
        #expect(cpu1 == CPUTimes(user: 254063, nice: 7, system: 64605, idle: 656690, iowait: 5915, irq: 0, softirq: 2863, steal: 1715))
        #expect(CPUTimes.read(cpu: 2, stat: stat) == nil)
        #expect(CPUTimes.read(cpu: 0) != nil)  // this machine's own /proc/stat
        // 10 ticks of user, 5 stolen, 85 in the kernel of which 80 the generator's, and 100 of
        // softirq (the DUT and the sink: not interference): (10 + 5 + 5) / 200 = 10 %.
        var after = cpu1
        after.user += 10
        after.steal += 5
        after.system += 85
        after.softirq += 100
        #expect(CPUTimes.interference(from: cpu1, to: after, generatorTicks: 80) == 0.1)
        #expect(CPUTimes.interference(from: cpu1, to: after, generatorTicks: 0) == 0.5)
        #expect(CPUTimes.interference(from: cpu1, to: cpu1) == nil)
    }

    /// A failing trial with other tasks on the CPU is repeated (at most `disturbedRetries`
    /// times); a failing trial on a quiet CPU is a result and is not.
    @Test func disturbedFailingTrialsAreRepeated() throws {
        var options = BenchSearchTests.options
        options.disturbedRetries = 2
        var calls: [Double] = []
        var disturbedOnce: Set<Double> = []
        let search = try TrafficBench.searchPDR(low: 1e6, high: 4e6, options: options, progress: { _ in }, pause: { _ in }) { rate in
            calls.append(rate)
            var trial = BenchSearchTests.trial(requested: rate, delivered: min(rate, 3e6))
            // The first trial at each rate above 1 Mpps is disturbed: 30 % lost, 40 % of the CPU taken.
            if rate > 1e6, !disturbedOnce.contains(rate) {
                disturbedOnce.insert(rate)
                trial.deliveredPPS = rate * 0.7
                trial.interference = 0.4
            }
            return trial
        }
        // Every rate above the pre-check was tried twice: disturbed, then measured.
        #expect(search.disturbed?.count == disturbedOnce.count)
        #expect(calls.count == 1 + 2 * disturbedOnce.count)
        #expect(search.pdr >= 3e6 * (1 - options.precision) - 1 && search.pdr <= 3e6 / (1 - options.lossThreshold))
    }

    @Test func disturbedMeansOthersTookEnoughToExplainTheLoss() {
        let options = BenchSearchTests.options
        func lost(_ fraction: Double) -> TrafficBench.Trial {
            BenchSearchTests.trial(requested: 1e6, delivered: 1e6 * (1 - fraction))
        }
        #expect(TrafficBench.isDisturbed(lost(0.07), interference: 0.04, options: options))    // 4 % (4 ticks) explains 7 %
        #expect(!TrafficBench.isDisturbed(lost(0.036), interference: 0.02, options: options))  // 2 ticks of a 1 s trial: resolution
        #expect(!TrafficBench.isDisturbed(lost(0.20), interference: 0.01, options: options))  // saturation, not others
        #expect(TrafficBench.isDisturbed(lost(0.20), interference: 0.06, options: options))   // over maxInterference
        #expect(!TrafficBench.isDisturbed(lost(0.006), interference: 0.004, options: options)) // below one tick's worth
    }

    @Test func aQuietFailingTrialIsNotRepeated() throws {
        var calls = 0
        let search = try TrafficBench.searchPDR(low: 1e6, high: 4e6, options: BenchSearchTests.options, progress: { _ in },
                                                pause: { _ in }) { rate in
            calls += 1
            var trial = BenchSearchTests.trial(requested: rate, delivered: min(rate, 2e6))
            trial.interference = 0.001
            return trial
        }
        #expect(search.disturbed == nil)
        #expect(calls == search.trials.count)
    }
}

/// What the output check expects at the sink for each scenario's DUT, written out by hand.
struct BenchOutputCheckTests {
    @Test func expectedShapesFollowTheBehaviours() throws {
        var options = TrafficBench.Options()
        options.segments = 3
        let mac: [UInt8] = [2, 0, 0, 0, 1, 1]
        func frame(_ template: PacketTemplate) throws -> PacketTemplate.Frame {
            try template.frame(length: 64 + template.encapsulationOverhead, sourceMAC: mac, destinationMAC: mac)
        }
        let plain = try frame(.ipv6UDP)
        #expect(TrafficBench.expectedOutput(.ipv6Forwarding, dut: .baseline, frame: plain, options: options) == nil)
        #expect(TrafficBench.expectedOutput(.ipv6Forwarding, dut: .kernelForwarding, frame: plain, options: options)
            == .init(length: 64, outer: 6, hopLimit: 0))
        // H.Encaps with 3 SIDs: + 40 + 8 + 48 bytes, SL = Last Entry = 2.
        #expect(TrafficBench.expectedOutput(.srv6Encap, dut: .hike, frame: plain, options: options)
            == .init(length: 160, outer: 6, hasSRH: true, lastEntry: 2, segmentsLeft: 2, inner: 6, hopLimit: 0))
        // End: the same length, SL 2 → 1.
        let end = try frame(SRv6BenchPlan.endInput(segments: 3))
        #expect(TrafficBench.expectedOutput(.srv6End, dut: .kernelForwarding, frame: end, options: options)
            == .init(length: 160, outer: 6, hasSRH: true, lastEntry: 2, segmentsLeft: 1, inner: 6, hopLimit: 0))
        // End.DT6: the inner packet alone.
        let dt6 = try frame(SRv6BenchPlan.endDT6Input(segments: 3))
        #expect(TrafficBench.expectedOutput(.srv6EndDT6, dut: .hike, frame: dt6, options: options)
            == .init(length: 64, outer: 6, hopLimit: 0))
        // loss-monitoring encapsulates as srv6-encap; AltMark adds an 8-byte Destination Options header.
        #expect(TrafficBench.expectedOutput(.lossMonitoring, dut: .hikeMonitored, frame: plain, options: options)
            == .init(length: 160, outer: 6, hasSRH: true, lastEntry: 2, segmentsLeft: 2, inner: 6, hopLimit: 0))
        #expect(TrafficBench.expectedOutput(.lossMonitoring, dut: .hikeAltMark, frame: plain, options: options)
            == .init(length: 168, outer: 6, hasSRH: true, lastEntry: 2, segmentsLeft: 2, inner: 6, hopLimit: 0))
        #expect(TrafficBench.expectedOutput(.generator, dut: .kernelForwarding, frame: try frame(.ipv4UDP), options: options)
            == .init(length: 64, outer: 4, hopLimit: 0))
        // Bare XDP forwarding in the SRv6 scenarios: each input as it came.
        #expect(TrafficBench.expectedOutput(.srv6Encap, dut: .xdpForwarding, frame: plain, options: options)
            == .init(length: 64, outer: 6, hopLimit: 0))
        #expect(TrafficBench.expectedOutput(.srv6End, dut: .xdpForwarding, frame: end, options: options)
            == .init(length: 160, outer: 6, hasSRH: true, lastEntry: 2, segmentsLeft: 2, inner: 6, hopLimit: 0))
        #expect(TrafficBench.expectedOutput(.srv6EndDT6, dut: .xdpForwarding, frame: dt6, options: options)
            == .init(length: 160, outer: 6, hasSRH: true, lastEntry: 2, segmentsLeft: 0, inner: 6, hopLimit: 0))
    }
}
