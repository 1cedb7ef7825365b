import BPFKit
import Bench
import Foundation
import HikeTestSupport
import Testing

/// The live-frames generator of `hike bench run` delivers exactly what it sends: counted at the
/// sink, in packets and bytes, directly and through the XDP forwarder (never a speed: benchmarks
/// are not tests).
@Suite(.serialized) struct TrafficGeneratorTests {
    init() throws {
        try KernelTest.prepare()
    }

    /// One live test run of `frames` frames out of g0 (synchronous: no pacing, no signal).
    func send(_ pipeline: TrafficPipeline, frames: UInt32, flows: UInt32) throws {
        let frame = TrafficPipeline.frame()
        try pipeline.programs.configure(.init(frame: frame, redirectIndex: pipeline.generatorIndex, flows: flows))
        try pipeline.gen.run {
            _ = try pipeline.programs.generator.testRun(
                TestRunOptions(data: frame, repeatCount: frames, flags: .xdpLiveFrames, batchSize: 64))
        }
    }

    @Test(arguments: [TrafficPipeline.DUT.baseline, .xdpForwarding, .kernelForwarding])
    func everyFrameArrivesAtTheSink(dut: TrafficPipeline.DUT) throws {
        let pipeline = try TrafficPipeline(prefix: KernelTest.prefix)
        defer { pipeline.destroy() }
        try pipeline.configure(dut)
        try pipeline.programs.resetCounters()
        let frames: UInt32 = 1000
        try send(pipeline, frames: frames, flows: 16)
        try KernelTest.waitUntil("the sink counts \(frames) frames") {
            try pipeline.programs.sinkCounter().packets >= UInt64(frames)
        }
        let sent = try pipeline.programs.generatorCounters()
        #expect(sent.sent == PacketCounter(packets: UInt64(frames), bytes: UInt64(frames) * 64))
        #expect(sent.paced == .zero)
        #expect(try pipeline.programs.sinkCounter() == PacketCounter(packets: UInt64(frames), bytes: UInt64(frames) * 64))
        if dut == .xdpForwarding {
            let forwarder = try pipeline.programs.forwarderCounters()
            // Every generator frame was forwarded in XDP; `passed` also counts the kernel's own
            // neighbour discovery on the link, so it is not checked.
            #expect(forwarder.forwarded.packets == UInt64(frames))
        }
    }
}
