import BPFKit
@testable import Bench
import Foundation
import HikeTestSupport
import NetKit
import Testing
import Topology

/// The live-frames generator of `hike bench run` delivers exactly what it sends: counted at the
/// sink, in packets and bytes, directly and through the XDP forwarder; every template's frames
/// arrive with the shape the template describes, and with checksums the kernel accepts (never a
/// speed: benchmarks are not tests).
@Suite(.serialized) struct TrafficGeneratorTests {
    init() throws {
        try KernelTest.prepare()
    }

    /// One live test run of `frames` frames out of g0 (synchronous: no pacing, no signal).
    func send(_ pipeline: TrafficPipeline, _ frame: PacketTemplate.Frame, frames: UInt32, flows: UInt32) throws {
        try pipeline.programs.configure(.init(frame: frame, redirectIndex: pipeline.generatorIndex, flows: flows))
        try pipeline.gen.run {
            _ = try pipeline.programs.generator.testRun(
                TestRunOptions(data: frame.bytes, repeatCount: frames, flags: .xdpLiveFrames, batchSize: 64))
        }
    }

    func options(size: Int) -> TrafficBench.Options {
        var options = TrafficBench.Options.quick
        options.frameLength = size
        return options
    }

    @Test(arguments: [TrafficPipeline.DUT.baseline, .xdpForwarding, .kernelForwarding])
    func everyFrameArrivesAtTheSink(dut: TrafficPipeline.DUT) throws {
        let pipeline = try TrafficPipeline(prefix: KernelTest.prefix)
        defer { pipeline.destroy() }
        try pipeline.configure(dut, in: .ipv6Forwarding)
        try pipeline.programs.resetCounters()
        let frames: UInt32 = 1000
        try send(pipeline, try pipeline.frame(.ipv6UDP, options: options(size: 64)), frames: frames, flows: 16)
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

    /// The SRv6 scenarios' bare XDP forwarding DUT (the reference hike's SRv6 is measured
    /// against without kernel SRv6) forwards each input as it came, by its outer destination,
    /// over plain routes it puts in place of the kernel's: the sink sees every frame with the
    /// input's shape (2 SIDs; shapes written out from the inputs' definitions).
    @Test(arguments: [
        (TrafficScenario.srv6Encap, GeneratorObject.Shape(length: 64, outer: 6, hopLimit: 0)),
        (.srv6End, .init(length: 64 + 40 + 8 + 32, outer: 6, hasSRH: true, lastEntry: 1, segmentsLeft: 1, inner: 6, hopLimit: 0)),
        (.srv6EndDT6, .init(length: 64 + 40 + 8 + 32, outer: 6, hasSRH: true, lastEntry: 1, segmentsLeft: 0, inner: 6, hopLimit: 0)),
    ])
    func srv6InputsAreForwardedAsTheyCameByBareXDP(_ scenario: TrafficScenario, _ expected: GeneratorObject.Shape) throws {
        let pipeline = try TrafficPipeline(prefix: KernelTest.prefix)
        defer { pipeline.destroy() }
        var options = options(size: 64)
        options.segments = 2
        try pipeline.configure(.xdpForwarding, in: scenario, options: options)
        let (template, destination) = scenario.input(options)
        let frame = try pipeline.frame(template, options: options, innerDestination: destination)
        try TrafficBench.checkOutput(pipeline, frame: frame, expected: expected, options: options, count: 256)
        #expect(try pipeline.programs.forwarderCounters().forwarded.packets == 256)
    }

    /// The kernel's SRv6 DUT runs where the kernel has seg6/seg6local, and elsewhere is not
    /// measured, with what the kernel lacks (not a set-up failure).
    @Test func theKernelSRv6DUTNeedsTheKernelsSRv6() throws {
        let pipeline = try TrafficPipeline(prefix: KernelTest.prefix)
        defer { pipeline.destroy() }
        let support = try KernelSRv6.support
        if support.available {
            try pipeline.configure(.kernelForwarding, in: .srv6End, options: options(size: 64))
        } else {
            let error = try #require(throws: BenchError.self) {
                try pipeline.configure(.kernelForwarding, in: .srv6End, options: options(size: 64))
            }
            guard case .unavailable(let why) = error else { Issue.record("not .unavailable: \(error)"); return }
            #expect(why == support.reason)
        }
    }

    /// A template, a frame length and the shape a receiver must see, written out by hand from
    /// RFC 8754 and the template's definition (not from what the generator produced).
    struct TemplateCase: Sendable, CustomTestStringConvertible {
        var template: PacketTemplate
        var packetLength: Int
        var expected: GeneratorObject.Shape
        var testDescription: String { "\(template.name), \(expected.length) B" }
    }

    static let templateCases: [TemplateCase] = [
        TemplateCase(template: .ipv6UDP, packetLength: 64, expected: .init(length: 64, outer: 6, hopLimit: 64)),
        TemplateCase(template: .ipv6UDP, packetLength: 1514, expected: .init(length: 1514, outer: 6, hopLimit: 64)),
        TemplateCase(template: .ipv4UDP, packetLength: 64, expected: .init(length: 64, outer: 4, hopLimit: 64)),
        TemplateCase(template: .ipv4UDP, packetLength: 333, expected: .init(length: 333, outer: 4, hopLimit: 64)),
        // End.DT6 input with 1 SID: 64 + 40 + 8 + 16 = 128 B (perf-anchors.md B (v)).
        TemplateCase(template: SRv6BenchPlan.endDT6Input(segments: 1), packetLength: 64,
                     expected: .init(length: 128, outer: 6, hasSRH: true, lastEntry: 0, segmentsLeft: 0, inner: 6, hopLimit: 64)),
        TemplateCase(template: SRv6BenchPlan.endInput(segments: 3), packetLength: 100,
                     expected: .init(length: 100 + 48 + 48, outer: 6, hasSRH: true, lastEntry: 2, segmentsLeft: 2, inner: 6,
                                     hopLimit: 64)),
        // 8 SIDs: 238 bytes of headers, all rewritten into every frame.
        TemplateCase(template: SRv6BenchPlan.endDT6Input(segments: 8), packetLength: 62,
                     expected: .init(length: 62 + 48 + 128, outer: 6, hasSRH: true, lastEntry: 7, segmentsLeft: 0, inner: 6,
                                     hopLimit: 64)),
    ]

    /// The generator's frames, as a receiving XDP program on d0 parses them, have exactly the
    /// template's shape, all of them (16 flows varied per packet).
    @Test(arguments: templateCases)
    func templateFramesArriveAsDescribed(_ testCase: TemplateCase) throws {
        let pipeline = try TrafficPipeline(prefix: KernelTest.prefix)
        defer { pipeline.destroy() }
        try pipeline.attach(pipeline.programs.inspector, on: .d0)
        try pipeline.programs.resetCounters()
        let frame = try pipeline.frame(testCase.template, options: options(size: testCase.packetLength))
        #expect(frame.bytes.count == testCase.expected.length)
        let frames: UInt32 = 1000
        try send(pipeline, frame, frames: frames, flows: 16)
        try KernelTest.waitUntil("d0 counts \(frames) frames") {
            try pipeline.programs.sinkCounter().packets >= UInt64(frames)
        }
        #expect(try pipeline.programs.shapes() == [testCase.expected: UInt64(frames)])
        #expect(try pipeline.programs.sinkCounter().bytes == UInt64(frames) * UInt64(testCase.expected.length))
    }

    /// The template's own checksums, recomputed here with the test support's RFC 1071 code.
    @Test(arguments: templateCases)
    func templateChecksumsAreRight(_ testCase: TemplateCase) throws {
        let frame = try testCase.template.frame(length: testCase.expected.length, sourceMAC: [2, 0, 0, 0, 1, 1],
                                                destinationMAC: [2, 0, 0, 0, 1, 2])
        let bytes = frame.bytes
        let udpStart = frame.portOffset
        let udp = Array(bytes[udpStart...])
        #expect(Int(bytes[udpStart + 4]) << 8 | Int(bytes[udpStart + 5]) == udp.count)
        if testCase.expected.outer == 4 {
            #expect(PacketBuilder.onesComplementSum(Array(bytes[14..<34])) == 0xffff)
            var zeroed = udp
            zeroed[6] = 0
            zeroed[7] = 0
            let pseudo = Array(bytes[26..<34]) + [0, 17, UInt8(udp.count >> 8), UInt8(udp.count & 0xff)]
            let sum = ~PacketBuilder.onesComplementSum(pseudo + zeroed)
            #expect(UInt16(udp[6]) << 8 | UInt16(udp[7]) == (sum == 0 ? 0xffff : sum))
        } else {
            let ip = udpStart - 40
            var zeroed = udp
            zeroed[6] = 0
            zeroed[7] = 0
            let checksum = PacketBuilder.transportChecksum(source: Array(bytes[(ip + 8)..<(ip + 24)]),
                                                           destination: Array(bytes[(ip + 24)..<(ip + 40)]),
                                                           nextHeader: 17, segment: zeroed)
            #expect(UInt16(udp[6]) << 8 | UInt16(udp[7]) == checksum)
        }
    }

    /// Through the kernel to a UDP socket: the kernel checks the IPv4 header checksum and every
    /// UDP checksum, so with 64 flows (addresses and ports varied by gen_live, checksums updated
    /// incrementally) a datagram arrives only if gen_live got them right. The SRv6 template
    /// goes through the kernel's End.DT6, which also validates its SRH.
    @Test(arguments: [("ipv6", 64), ("ipv6", 700), ("ipv4", 64), ("ipv4", 701)])
    func theKernelAcceptsEveryFrame(_ kind: String, _ size: Int) throws {
        try throughTheKernel(kind, size)
    }

    /// The SRv6 template through the kernel's End.DT6 (seg6local): in the reference VM on a host
    /// without the kernel's SRv6.
    @Test(arguments: [64, 99])
    func theKernelAcceptsEverySRv6Frame(_ size: Int) throws {
        try KernelTest.requireKernelSRv6()
        try throughTheKernel("srv6", size)
    }

    func throughTheKernel(_ kind: String, _ size: Int) throws {
        let pipeline = try TrafficPipeline(prefix: KernelTest.prefix)
        defer { pipeline.destroy() }
        let options = options(size: size)
        let template: PacketTemplate = switch kind {
        case "ipv4": .ipv4UDP
        case "srv6": SRv6BenchPlan.endDT6Input(segments: 2)
        default: .ipv6UDP
        }
        try pipeline.configure(.kernelForwarding, in: kind == "srv6" ? .srv6EndDT6 : .ipv6Forwarding, options: options)
        try pipeline.attach(pipeline.programs.pass, on: .s0)
        let receiver = try UDPReceiver(in: pipeline.sink, port: PacketTemplate.udpDestinationPort)
        let frame = try pipeline.frame(template, options: options)
        try pipeline.programs.configure(.init(frame: frame, redirectIndex: pipeline.generatorIndex, flows: 64))
        // In batches, each one read before the next: a datagram made from a live frame holds a
        // whole page, so a burst of hundreds would overflow the socket's receive buffer.
        let batch: UInt32 = 32, batches = 20
        for index in 1...batches {
            try pipeline.gen.run {
                _ = try pipeline.programs.generator.testRun(
                    TestRunOptions(data: frame.bytes, repeatCount: batch, flags: .xdpLiveFrames, batchSize: batch))
            }
            try KernelTest.waitUntil("the sink's UDP socket receives \(index) × \(batch) datagrams") {
                receiver.drain() >= index * Int(batch)
            }
        }
        #expect(receiver.drain() == batches * Int(batch))
        #expect(try pipeline.programs.generatorCounters().sent.packets == UInt64(batches) * UInt64(batch))
    }

    @Test func templatesRejectWhatTheyCannotBuild() throws {
        #expect(throws: PacketTemplate.TemplateError.frameLength(61, template: "Eth/IPv6/UDP", minimum: 62, maximum: 1514)) {
            try PacketTemplate.ipv6UDP.frame(length: 61, sourceMAC: [], destinationMAC: [])
        }
        let bad = PacketTemplate.srv6(.init(source: PacketTemplate.ipv6Source, segments: [SRv6BenchPlan.endSID], segmentsLeft: 2))
        #expect(throws: PacketTemplate.TemplateError.segmentsLeft(2, segments: 1)) {
            try bad.frame(length: 200, sourceMAC: [], destinationMAC: [])
        }
    }
}
