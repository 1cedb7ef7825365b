import BPFKit
import BPFObjects
import HikeRuntime
import HikeTestSupport
import HikeVM
import Testing

/// The programs `hike bench vm` times load and their chains end in XDP_DROP (the benchmark's
/// speeds are not asserted anywhere: benchmarks are not tests).
@Suite(.serialized) struct BenchProgramsTests {
    let packet = PacketBuilder.udp6(source: PacketBuilder.ipv6("fc00::1") ?? [], destination: PacketBuilder.ipv6("fc00::2") ?? [],
                                    sourcePort: 1000, destinationPort: 2000, payload: [0x5a, 0x5a])

    init() throws {
        try KernelTest.prepare()
    }

    @Test(arguments: ["bench_const", "bench_rt"])
    func rawTailCallChainsEndInDrop(prefix: String) throws {
        let embedded = try #require(EmbeddedObjects.named("bench_tailcall"))
        let object = try BPFObject(bytes: embedded.bytes, name: embedded.name)
        let table = try object.map(prefix == "bench_const" ? "bench_const_jmp" : "bench_rt_jmp")
        let drop = try object.program("bench_drop")
        let entry = try object.program("\(prefix)_entry")
        #expect(packet.count == 64)
        #expect(try drop.testRun(TestRunOptions(data: packet)).returnValue == ABI.xdpDrop)
        // An empty slot: the tail call falls through.
        #expect(try entry.testRun(TestRunOptions(data: packet)).returnValue == ABI.xdpAborted)
        for hops in 0...8 {
            for slot in 0..<hops {
                try table.update(UInt32(slot), UInt32(bitPattern: try object.program("\(prefix)_\(slot)").fd))
            }
            try table.update(UInt32(hops), UInt32(bitPattern: drop.fd))
            #expect(try entry.testRun(TestRunOptions(data: packet, repeatCount: 10)).returnValue == ABI.xdpDrop, "N = \(hops)")
        }
    }

    @Test func hikeChainOfNoopCallsEndsInDrop() throws {
        let test = try KernelTest.instance()
        let hike = test.instance
        let noop = Int32(try hike.loadProgram("noop").id)
        let drop = Int32(try hike.loadProgram("hike_drop").id)
        #expect(try hike.catalog.entry("noop").package == "bench")
        let calls = 8
        var chain: [BPFInstruction] = []
        for _ in 0..<calls { chain += [.mov64(.r1, imm: noop), .call(helper: ABI.fnCall)] }
        chain += [.mov64(.r1, imm: drop), .call(helper: ABI.fnCall)]
        _ = try hike.install([AssembledChain(name: "bench", instructions: chain)], source: nil)
        // Default verdict PASS: only hike_drop at the end gives DROP.
        let loader = try hike.detachedLoader("ip6_classifier", chain: "bench", defaultVerdict: ABI.xdpPass)
        let before = try hike.lastResults()
        #expect(try loader.testRun(TestRunOptions(data: packet)).returnValue == ABI.xdpDrop)
        let result = try #require(try hike.resultAfter(before))
        #expect(result.fault == 0)
        #expect(result.verdict == ABI.xdpDrop)
        #expect(result.r0 == 0)  // noop's HVM_RET
        #expect(result.pc == UInt32(2 * calls + 1))  // hike_drop's call
        #expect(try loader.testRun(TestRunOptions(data: packet, repeatCount: 100)).returnValue == ABI.xdpDrop)
    }
}
