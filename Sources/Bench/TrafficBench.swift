import BPFKit
import Foundation
import Topology

/// `hike bench run`: packet rates through veth pairs with the live-frames generator
/// (see docs/benchmarks.md for the method).
public enum TrafficBench {
    public struct Options: Sendable, Codable {
        /// The CPU of the generator thread; the DUT and the sink run inline behind it, in the
        /// softirq of the same CPU (the 1-core column of perf-anchors.md).
        public var cpu: Int = 0
        /// Length of one measuring window, after `warmup`.
        public var trialSeconds: Double = 2
        public var warmupSeconds: Double = 0.3
        /// Repetitions of every measurement (the report gives median, min and max).
        public var repetitions: Int = 3
        /// PDR@X: the loss allowed, as a fraction (0.005 = 0.5 %).
        public var lossThreshold: Double = 0.005
        /// NDR: the loss allowed for "no drop", as a fraction of the packets sent. 0 = not one
        /// packet lost over the trial (beyond one batch of 64 frames in flight); see `Trial.isNoDrop`.
        public var ndrLossThreshold: Double = 0
        /// The bisection stops when (high − low)/high ≤ precision.
        public var precision: Double = 0.01
        /// Whether to search the PDR (else only the maximum receive rate, MRR).
        public var searchPDR = true
        public var frameLength = 64
        public var flows: UInt32 = 256
        /// Trials the stability pre-check may take before the DUT is reported as failed.
        public var precheckAttempts = 3
        /// Pause before the second pre-check attempt (×2 before the third, …), seconds.
        public var precheckPauseSeconds = 1.0
        /// What the generator sends (the SRv6 scenarios choose their own input, see
        /// `TrafficScenario.template`).
        public var template: PacketTemplate = .ipv6UDP
        /// SIDs in the SRv6 scenarios' segment lists (input SRH, or the encap policy).
        public var segments = 1
        /// Chain lengths of the tailcalls scenario.
        public var tailcallLengths = Array(1...8)
        /// The CPU of the thread that reads the counters and runs the searches (nil: not pinned).
        public var controlCPU: Int?
        /// A trial that fails while other tasks took more than this share of the generator's CPU
        /// is disturbed, not a measurement: it is repeated, up to `disturbedRetries` times.
        public var maxInterference = 0.05
        public var disturbedRetries = 2
        /// Rounds of interleaved MRR trials after a scenario's DUTs (0: none): see
        /// `TrafficReport.PairedComparison`.
        public var pairedRounds = 0

        public init() {}

        enum CodingKeys: String, CodingKey {
            case cpu, trialSeconds, warmupSeconds, repetitions, lossThreshold, ndrLossThreshold, precision, searchPDR,
                 frameLength, flows, precheckAttempts, precheckPauseSeconds, template, segments, tailcallLengths,
                 controlCPU, maxInterference, disturbedRetries, pairedRounds
        }

        /// Decodes reports written before a field existed (missing fields keep their defaults).
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            cpu = try c.decodeIfPresent(Int.self, forKey: .cpu) ?? cpu
            trialSeconds = try c.decodeIfPresent(Double.self, forKey: .trialSeconds) ?? trialSeconds
            warmupSeconds = try c.decodeIfPresent(Double.self, forKey: .warmupSeconds) ?? warmupSeconds
            repetitions = try c.decodeIfPresent(Int.self, forKey: .repetitions) ?? repetitions
            lossThreshold = try c.decodeIfPresent(Double.self, forKey: .lossThreshold) ?? lossThreshold
            ndrLossThreshold = try c.decodeIfPresent(Double.self, forKey: .ndrLossThreshold) ?? ndrLossThreshold
            precision = try c.decodeIfPresent(Double.self, forKey: .precision) ?? precision
            searchPDR = try c.decodeIfPresent(Bool.self, forKey: .searchPDR) ?? searchPDR
            frameLength = try c.decodeIfPresent(Int.self, forKey: .frameLength) ?? frameLength
            flows = try c.decodeIfPresent(UInt32.self, forKey: .flows) ?? flows
            precheckAttempts = try c.decodeIfPresent(Int.self, forKey: .precheckAttempts) ?? precheckAttempts
            precheckPauseSeconds = try c.decodeIfPresent(Double.self, forKey: .precheckPauseSeconds) ?? precheckPauseSeconds
            template = try c.decodeIfPresent(PacketTemplate.self, forKey: .template) ?? template
            segments = try c.decodeIfPresent(Int.self, forKey: .segments) ?? segments
            tailcallLengths = try c.decodeIfPresent([Int].self, forKey: .tailcallLengths) ?? tailcallLengths
            controlCPU = try c.decodeIfPresent(Int.self, forKey: .controlCPU)
            maxInterference = try c.decodeIfPresent(Double.self, forKey: .maxInterference) ?? maxInterference
            disturbedRetries = try c.decodeIfPresent(Int.self, forKey: .disturbedRetries) ?? disturbedRetries
            pairedRounds = try c.decodeIfPresent(Int.self, forKey: .pairedRounds) ?? pairedRounds
        }

        /// Short trials, one repetition, 5 % precision: a smoke run of a minute or so.
        public static var quick: Options {
            var options = Options()
            options.trialSeconds = 0.5
            options.warmupSeconds = 0.2
            options.repetitions = 1
            options.precision = 0.05
            return options
        }
    }

    /// One trial: the generator at a requested rate (0: unpaced) for trialSeconds.
    public struct Trial: Sendable, Codable {
        public var requestedPPS: Double
        /// What gen_live sent (frames it did not pace away), per second.
        public var offeredPPS: Double
        /// What the sink counted, per second: the only trusted figure.
        public var deliveredPPS: Double
        public var deliveredBytesPerSecond: Double
        public var seconds: Double
        /// Interface counter deltas over the whole trial (warm-up included).
        public var interfaces: TrafficPipeline.Interfaces
        /// Share of the delivered packets the sink counted on each CPU (over the whole trial).
        public var sinkShareByCPU: [Double]
        /// Share of the generator's CPU that other tasks or the hypervisor took during the
        /// measuring window (CPUTimes.interference); nil when /proc/stat could not be read.
        public var interference: Double? = nil

        /// Delivered / requested (unpaced: delivered / offered).
        public var deliveryRatio: Double {
            let reference = requestedPPS > 0 ? requestedPPS : offeredPPS
            return reference > 0 ? deliveredPPS / reference : 0
        }

        /// Packets the generator sent minus packets the sink counted over the measuring window.
        public var lostPackets: Double { (offeredPPS - deliveredPPS) * seconds }

        /// No drop (RFC 2544 throughput, SRPerf's NDR): the sink counted every packet the
        /// generator sent, beyond `threshold` (a fraction of them), and the generator sent at
        /// least (1 − `rateTolerance`) of the requested rate. The window's two counter reads are
        /// not atomic with the generator, so one batch of 64 frames in flight is not loss.
        public func isNoDrop(threshold: Double, rateTolerance: Double) -> Bool {
            let offeredEnough = requestedPPS <= 0 || offeredPPS >= (1 - rateTolerance) * requestedPPS
            return offeredEnough && lostPackets <= max(64, threshold * offeredPPS * seconds)
        }
    }

    /// Runs the generator for one trial and measures at the sink.
    public static func trial(_ pipeline: TrafficPipeline, frame: PacketTemplate.Frame, ratePPS: Double,
                             options: Options) throws -> Trial {
        try pipeline.programs.configure(.init(frame: frame, redirectIndex: pipeline.generatorIndex, flows: options.flows,
                                              ratePPS: UInt64(max(0, ratePPS))))
        let before = try pipeline.interfaces()
        let sinkBefore = try pipeline.deliveredPerCPU()
        let generator = LiveGenerator(object: pipeline.programs, namespace: pipeline.gen, interface: "g0",
                                      frame: frame.bytes, cpu: options.cpu)
        var startCounters: (PacketCounter, PacketCounter, ContinuousClock.Instant)?
        var endCounters: (PacketCounter, PacketCounter, ContinuousClock.Instant)?
        var cpuBefore: CPUTimes?, cpuAfter: CPUTimes?, generatorBefore: UInt64?, generatorAfter: UInt64?
        do {
            Thread.sleep(forTimeInterval: options.warmupSeconds)
            let clock = ContinuousClock()
            if !generator.hasFinished {
                cpuBefore = CPUTimes.read(cpu: options.cpu)
                generatorBefore = generator.cpuTicks
                startCounters = (try pipeline.programs.generatorCounters().sent, try pipeline.delivered(), clock.now)
                Thread.sleep(forTimeInterval: options.trialSeconds)
                endCounters = (try pipeline.programs.generatorCounters().sent, try pipeline.delivered(), clock.now)
                cpuAfter = CPUTimes.read(cpu: options.cpu)
                generatorAfter = generator.cpuTicks
            }
        } catch {
            try? generator.stop()
            throw error
        }
        try generator.stop()
        guard let start = startCounters, let end = endCounters else {
            throw BenchError.chainFailed(what: "generator", detail: "stopped before the measurement began")
        }
        let after = try pipeline.interfaces()
        let sinkAfter = try pipeline.deliveredPerCPU()
        let perCPU = zip(sinkAfter, sinkBefore).map { Double(($0 - $1).packets) }
        let total = perCPU.reduce(0, +)
        let elapsed = end.2 - start.2
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let sent = end.0 - start.0, received = end.1 - start.1
        return Trial(requestedPPS: ratePPS, offeredPPS: Double(sent.packets) / seconds,
                     deliveredPPS: Double(received.packets) / seconds,
                     deliveredBytesPerSecond: Double(received.bytes) / seconds, seconds: seconds,
                     interfaces: after - before, sinkShareByCPU: perCPU.map { total > 0 ? $0 / total : 0 },
                     interference: cpuBefore.flatMap { b in
                         cpuAfter.flatMap { a in
                             CPUTimes.interference(from: b, to: a, generatorTicks: (generatorAfter ?? 0) &- (generatorBefore ?? 0))
                         }
                     })
    }

    /// Median, min and max of a set of rates.
    public struct Spread: Sendable, Codable {
        public var samples: [Double]
        public var median: Double {
            let sorted = samples.sorted()
            guard !sorted.isEmpty else { return .nan }
            let middle = sorted.count / 2
            return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
        }
        public var min: Double { samples.min() ?? .nan }
        public var max: Double { samples.max() ?? .nan }
        public init(_ samples: [Double]) { self.samples = samples }

        enum CodingKeys: String, CodingKey { case samples, median, min, max }
        public init(from decoder: any Decoder) throws {
            samples = try decoder.container(keyedBy: CodingKeys.self).decode([Double].self, forKey: .samples)
        }
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(samples, forKey: .samples)
            try container.encode(median, forKey: .median)
            try container.encode(min, forKey: .min)
            try container.encode(max, forKey: .max)
        }
    }

    /// One PDR search: SRPerf's Algorithm 1 between a passing low rate and an upper bound,
    /// then the NDR bisected between the trials of the PDR search that bracket it.
    public struct PDRSearch: Sendable, Codable {
        /// The highest rate that passed (delivered ≥ (1 − X) × requested), pps.
        public var pdr: Double
        /// The lowest rate that failed (the true PDR is in [pdr, failed)).
        public var failed: Double
        /// NDR: the highest rate that lost nothing (see `Trial.isNoDrop`), pps; 0 when even the
        /// low rate of the pre-check lost packets. Nil in reports written before NDR existed.
        public var ndr: Double?
        /// The lowest rate that lost packets (the true NDR is in [ndr, ndrFailed)).
        public var ndrFailed: Double?
        public var trials: [Trial]
        /// Pre-check trials at the low rate that lost packets before one passed (nil: none).
        public var precheckRetries: [Trial]? = nil
        /// Failing trials repeated because other tasks took the generator's CPU (nil: none).
        public var disturbed: [Trial]? = nil
    }

    /// Searches the PDR between `low` (checked first: the stability pre-check) and `high`.
    public static func searchPDR(_ pipeline: TrafficPipeline, frame: PacketTemplate.Frame, low: Double, high: Double,
                                 options: Options, progress: (String) -> Void) throws -> PDRSearch {
        try searchPDR(low: low, high: high, options: options, progress: progress) { rate in
            try trial(pipeline, frame: frame, ratePPS: rate, options: options)
        }
    }

    /// /proc/stat counts in 10 ms ticks: one stray tick in a 2 s window is already 0.5 %, so
    /// interference below this many ticks is the counter's resolution, not another tenant.
    public static let minimumInterferenceTicks = 3.0

    /// Whether a failing trial is disturbed rather than a measurement: other tasks took more of
    /// the generator's CPU than `maxInterference`, or at least half as much as the trial lost
    /// (a generator that lost 2 % of its time to others sends about 2 % too few frames, which is
    /// loss at the PDR's 0.5 %). Either way at least `minimumInterferenceTicks` ticks of the
    /// window (and never below the loss threshold): else almost any failing trial would count
    /// as disturbed and be repeated, biasing the PDR upward.
    public static func isDisturbed(_ trial: Trial, interference: Double, options: Options) -> Bool {
        let loss = 1 - trial.deliveryRatio
        let windowTicks = trial.seconds * 100  // USER_HZ
        let resolution = windowTicks > 0 ? minimumInterferenceTicks / windowTicks : 1
        guard interference >= resolution else { return false }
        return interference > options.maxInterference || interference >= max(options.lossThreshold, loss / 2)
    }

    /// The stability pre-check: a trial at `rate` must pass the PDR's loss threshold. On this
    /// shared, noisy VM another tenant can cost a single trial its packets, so a failing trial is
    /// retried, up to `options.precheckAttempts` trials in all, after a pause that grows with
    /// each attempt. Returns the passing trial and the failed attempts before it; throws
    /// `BenchError.unstable` when every attempt lost packets.
    public static func stabilityCheck(rate: Double, options: Options, progress: (String) -> Void,
                                      pause: (Double) -> Void = { Thread.sleep(forTimeInterval: $0) },
                                      trial: (Double) throws -> Trial) throws -> (passed: Trial, failed: [Trial]) {
        let attempts = max(1, options.precheckAttempts)
        var failed: [Trial] = []
        for attempt in 1...attempts {
            let check = try trial(rate)
            if check.deliveryRatio >= 1 - options.lossThreshold { return (check, failed) }
            failed.append(check)
            progress("    stability pre-check \(attempt)/\(attempts): \(mpps(rate)) Mpps requested → "
                + "\(mpps(check.deliveredPPS)) delivered (\(format(100 * (1 - check.deliveryRatio), decimals: 2)) % lost)"
                + (attempt < attempts ? ", retrying" : ""))
            if attempt < attempts { pause(options.precheckPauseSeconds * Double(attempt)) }
        }
        let losses = failed.map { format(100 * (1 - $0.deliveryRatio), decimals: 2) + " %" }.joined(separator: ", ")
        throw BenchError.unstable(rate: rate, attempts: attempts, losses: losses)
    }

    /// The search itself, on any way of running a trial at a requested rate (the pipeline, or a
    /// model of one in the unit tests).
    public static func searchPDR(low: Double, high: Double, options: Options, progress: (String) -> Void,
                                 pause: (Double) -> Void = { Thread.sleep(forTimeInterval: $0) },
                                 trial runTrial: (Double) throws -> Trial) throws -> PDRSearch {
        func passes(_ trial: Trial) -> Bool { trial.deliveryRatio >= 1 - options.lossThreshold }
        var trials: [Trial] = [], disturbed: [Trial] = []
        // A failing trial during which other tasks took the generator's CPU is repeated.
        func trial(_ rate: Double) throws -> Trial {
            var result = try runTrial(rate)
            var repeats = 0
            while !passes(result), let share = result.interference, isDisturbed(result, interference: share, options: options),
                  repeats < options.disturbedRetries {
                progress("    \(mpps(rate)) Mpps: \(format(100 * (1 - result.deliveryRatio), decimals: 2)) % lost while other "
                    + "tasks took \(format(100 * share, decimals: 0)) % of CPU \(options.cpu): disturbed, repeating the trial")
                disturbed.append(result)
                repeats += 1
                result = try runTrial(rate)
            }
            return result
        }
        let (check, retried) = try stabilityCheck(rate: low, options: options, progress: progress, pause: pause, trial: trial)
        trials.append(check)
        var lo = low, hi = high
        while (hi - lo) / hi > options.precision {
            let rate = (lo + hi) / 2
            let result = try trial(rate)
            trials.append(result)
            let ok = passes(result)
            progress("    \(mpps(rate)) Mpps requested → \(mpps(result.deliveredPPS)) delivered "
                + "(\(format(100 * (1 - result.deliveryRatio), decimals: 2)) % lost): \(ok ? "pass" : "fail")")
            if ok { lo = rate } else { hi = rate }
        }
        // NDR ≤ PDR: start from the PDR trials that bracket it, and bisect further if needed.
        func noDrop(_ trial: Trial) -> Bool {
            trial.isNoDrop(threshold: options.ndrLossThreshold, rateTolerance: options.lossThreshold)
        }
        var ndrLo = trials.filter(noDrop).map(\.requestedPPS).max() ?? 0
        var ndrHi = trials.filter { !noDrop($0) }.map(\.requestedPPS).filter { $0 > ndrLo }.min() ?? hi
        if ndrLo > 0 {
            while (ndrHi - ndrLo) / ndrHi > options.precision {
                let rate = (ndrLo + ndrHi) / 2
                let result = try trial(rate)
                trials.append(result)
                let ok = noDrop(result)
                progress("    NDR: \(mpps(rate)) Mpps requested → \(mpps(result.deliveredPPS)) delivered "
                    + "(\(mpps(result.offeredPPS)) sent, \(format(result.lostPackets)) lost): \(ok ? "pass" : "fail")")
                if ok { ndrLo = rate } else { ndrHi = rate }
            }
        } else {
            progress("    NDR: the pre-check at \(mpps(low)) Mpps already dropped (\(mpps(check.offeredPPS)) sent, "
                + "\(format(check.lostPackets)) lost); NDR reported as 0")
            ndrHi = low
        }
        return PDRSearch(pdr: lo, failed: hi, ndr: ndrLo, ndrFailed: ndrHi, trials: trials,
                         precheckRetries: retried.isEmpty ? nil : retried, disturbed: disturbed.isEmpty ? nil : disturbed)
    }

    /// What one DUT achieved.
    public struct DUTResult: Sendable, Codable {
        public var dut: TrafficPipeline.DUT
        /// Maximum receive rate: unpaced generator, delivered pps, per repetition.
        public var mrr: Spread
        /// Offered (sent) pps of the unpaced trials.
        public var offered: Spread
        public var pdr: Spread?
        /// Highest rate with zero loss, per search (nil with --mrr-only).
        public var ndr: Spread?
        public var mrrTrials: [Trial]
        public var searches: [PDRSearch]
        /// gen_fwd6's counters over the whole measurement (xdp only): forwarded, passed.
        public var forwarderCounts: [UInt64]?
        /// Why this DUT has no figures (its set-up failed, nothing reached the sink, or the
        /// stability pre-check kept losing packets); nil when it was measured.
        public var failure: String? = nil
        /// The failure is that this host cannot run the DUT at all (a kernel feature it lacks),
        /// not that the DUT broke; nil in reports written before it was recorded.
        public var unavailable: Bool? = nil
        /// What the generator sent to this DUT (nil in reports written before templates).
        public var input: String? = nil

        /// How a report states the failure: "not measured: …" for a DUT this host cannot run.
        func failureText(_ failure: String) -> String { (unavailable == true ? "not measured: " : "failed: ") + failure }

        /// A DUT that could not be measured, with the reason.
        public static func failed(_ dut: TrafficPipeline.DUT, reason: String, input: String? = nil) -> DUTResult {
            DUTResult(dut: dut, mrr: Spread([]), offered: Spread([]), pdr: nil, ndr: nil, mrrTrials: [], searches: [],
                      forwarderCounts: nil, failure: reason, input: input)
        }
    }

    /// One unpaced trial (the MRR). A trial disturbed by other tasks under-states the MRR, and
    /// the PDR search's upper bound with it: it is repeated (up to `disturbedRetries` times), as a
    /// failing search trial is; `disturbed` hears of each (share of the CPU taken, rate).
    static func mrrTrial(_ pipeline: TrafficPipeline, frame: PacketTemplate.Frame, options: Options,
                         disturbed: (Double, Double) -> Void) throws -> Trial {
        var result = try trial(pipeline, frame: frame, ratePPS: 0, options: options)
        var repeats = 0
        while let share = result.interference, share > options.maxInterference, repeats < options.disturbedRetries {
            disturbed(share, result.deliveredPPS)
            repeats += 1
            result = try trial(pipeline, frame: frame, ratePPS: 0, options: options)
        }
        return result
    }

    /// Measures the DUT already in place on d0 (`TrafficPipeline.configure`) with `input`.
    public static func measure(_ pipeline: TrafficPipeline, dut: TrafficPipeline.DUT, input: PacketTemplate,
                               destination: [UInt8] = PacketTemplate.ipv6Destination, options: Options,
                               progress: (String) -> Void) throws -> DUTResult {
        let frame = try pipeline.frame(input, options: options, innerDestination: destination)
        try pipeline.resetCounters()
        var mrrTrials: [Trial] = []
        var searches: [PDRSearch] = []
        for repetition in 1...options.repetitions {
            let result = try mrrTrial(pipeline, frame: frame, options: options) { share, delivered in
                progress("  \(dut.rawValue) MRR \(repetition): other tasks took \(format(100 * share, decimals: 0)) % of "
                    + "CPU \(options.cpu) (\(mpps(delivered)) Mpps delivered): disturbed, repeating the trial")
            }
            mrrTrials.append(result)
            progress("  \(dut.rawValue) MRR \(repetition)/\(options.repetitions): \(mpps(result.deliveredPPS)) Mpps delivered, "
                + "\(mpps(result.offeredPPS)) sent")
            if result.deliveredPPS < 1000 {
                throw BenchError.chainFailed(what: "\(dut.rawValue) DUT",
                                             detail: "nothing reaches the sink (\(result.deliveredPPS) pps; interfaces: \(result.interfaces))")
            }
        }
        let mrr = Spread(mrrTrials.map(\.deliveredPPS))
        if options.searchPDR {
            for repetition in 1...options.repetitions {
                progress("  \(dut.rawValue) PDR search \(repetition)/\(options.repetitions)")
                let high = mrr.max * 1.1
                searches.append(try searchPDR(pipeline, frame: frame, low: high * 0.1, high: high, options: options,
                                              progress: progress))
            }
        }
        var forwarderCounts: [UInt64]?
        if dut == .xdpForwarding {
            let counts = try pipeline.programs.forwarderCounters()
            forwarderCounts = [counts.forwarded.packets, counts.passed.packets]
        }
        return DUTResult(dut: dut, mrr: mrr, offered: Spread(mrrTrials.map(\.offeredPPS)),
                         pdr: searches.isEmpty ? nil : Spread(searches.map(\.pdr)),
                         ndr: searches.isEmpty ? nil : Spread(searches.compactMap(\.ndr)),
                         mrrTrials: mrrTrials, searches: searches, forwarderCounts: forwarderCounts,
                         input: "\(input.name), \(frame.bytes.count) B")
    }

    static func mpps(_ pps: Double) -> String { format(pps / 1e6, decimals: 3) }

    static func format(_ value: Double, decimals: Int = 0) -> String {
        value.isFinite ? String(format: "%.\(decimals)f", value) : "–"
    }
}
