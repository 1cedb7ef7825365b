import BPFKit
import Foundation

/// Before a DUT is timed, a few frames go through it to gen_inspect on s0, which must see them
/// all with the shape the scenario's DUT should produce (forwarded, encapsulated with N SIDs,
/// End-processed, decapsulated, AltMark-marked): a rate never comes from frames that took a
/// wrong turn (handed to the kernel, not encapsulated, …). The hop limit is not compared: it
/// says which node decremented what, and the kernel and the RFCs leave implementations room.
extension TrafficBench {
    /// What s0 must see for this scenario's DUT with `frame` as input; nil for the baseline
    /// (d0 drops everything itself).
    static func expectedOutput(_ scenario: TrafficScenario, dut: TrafficPipeline.DUT, frame: PacketTemplate.Frame,
                               options: Options) -> GeneratorObject.Shape? {
        // The baseline and fastdrop drop everything on d0 by design.
        guard dut != .baseline, scenario != .fastdrop else { return nil }
        let length = frame.bytes.count
        // Bare XDP forwarding in an SRv6 scenario forwards the input as it came, by its outer
        // destination: the reference hike's SRv6 DUTs are held to.
        let forwardedAsIs = scenario.isSRv6 && dut == .xdpForwarding
        switch scenario {
        case .srv6End where forwardedAsIs:
            let sids = SRv6BenchPlan.endSegmentCount(options.segments)
            return .init(length: length, outer: 6, hasSRH: true, lastEntry: sids - 1, segmentsLeft: sids - 1, inner: 6, hopLimit: 0)
        case .srv6EndDT6 where forwardedAsIs:
            return .init(length: length, outer: 6, hasSRH: true, lastEntry: max(1, options.segments) - 1, segmentsLeft: 0,
                         inner: 6, hopLimit: 0)
        case .srv6Encap where forwardedAsIs:
            return .init(length: length, outer: 6, hopLimit: 0)
        case .srv6Encap, .lossMonitoring:
            // loss-monitoring's AltMark DUT adds the 8-byte Destination Options header.
            let sids = SRv6BenchPlan.encapSegments(options.segments).count, doh = dut == .hikeAltMark ? 8 : 0
            return .init(length: length + 40 + doh + 8 + 16 * sids, outer: 6, hasSRH: true, lastEntry: sids - 1,
                         segmentsLeft: sids - 1, inner: 6, hopLimit: 0)
        case .srv6End, .srv6Proxy:
            let sids = SRv6BenchPlan.endSegmentCount(options.segments)
            return .init(length: length, outer: 6, hasSRH: true, lastEntry: sids - 1, segmentsLeft: sids - 2, inner: 6, hopLimit: 0)
        case .srv6EndDT6:
            return .init(length: length - 40 - 8 - 16 * options.segments, outer: 6, hopLimit: 0)
        default:
            return .init(length: length, outer: frame.ipv4ChecksumOffset == nil ? 6 : 4, hopLimit: 0)
        }
    }

    /// Sends `count` frames through the DUT in place to gen_inspect on s0 and checks their shape;
    /// s0 gets gen_sink back afterwards, also on error.
    static func checkOutput(_ pipeline: TrafficPipeline, frame: PacketTemplate.Frame, expected: GeneratorObject.Shape,
                            options: Options, count: UInt32 = 256) throws {
        try pipeline.attach(pipeline.programs.inspector, on: .s0)
        defer { try? pipeline.attach(pipeline.programs.sink, on: .s0) }
        try pipeline.programs.resetCounters()
        try pipeline.programs.configure(.init(frame: frame, redirectIndex: pipeline.generatorIndex, flows: options.flows))
        let generator = pipeline.programs.generator
        try pipeline.gen.run {
            _ = try generator.testRun(TestRunOptions(data: frame.bytes, repeatCount: count, flags: .xdpLiveFrames, batchSize: 64))
        }
        // The frames are processed inline by the time the test run returns, except what the
        // kernel queued (backlog): poll for a second at most.
        let deadline = ContinuousClock.now + .seconds(1)
        while try pipeline.programs.sinkCounter().packets < UInt64(count), ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.01)
        }
        var seen: [GeneratorObject.Shape: UInt64] = [:]
        for (shape, packets) in try pipeline.programs.shapes() {
            var withoutHopLimit = shape
            withoutHopLimit.hopLimit = 0
            seen[withoutHopLimit, default: 0] += packets
        }
        guard seen == [expected: UInt64(count)] else {
            let what = seen.isEmpty ? "nothing" : seen.map { "\($0.value) × \($0.key)" }.sorted().joined(separator: ", ")
            throw BenchError.chainFailed(what: "output check", detail: "\(count) frames in, the sink saw \(what); "
                + "expected \(count) × \(expected)")
        }
    }
}
