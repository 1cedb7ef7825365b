import BPFKit
import BPFObjects
import HikeTestSupport
import Testing

/// Pinned maps outlive the object that made them and are shared by the next one.
@Suite(.serialized) struct PinTests {
    init() throws { try KernelTest.prepare() }

    @Test func pinnedMapIsReusedByASecondObject() throws {
        let pins = try PinDirectory()
        let path = pins.pin("kind_counters")
        let options = ObjectOptions(pinnedMaps: ["kind_counters": path])
        let cpus = try possibleCPUCount()
        let written = (0..<cpus).map { PacketCounter(packets: UInt64(10 + $0), bytes: UInt64(1000 + $0)) }

        let first = try BPFObject(bytes: EmbeddedObjects.xdpCount.bytes, name: "xdp_count", options: options)
        try TypedMap<UInt32, PacketCounter>(first.map("kind_counters")).updatePerCPU(2, written)
        let firstID = try first.map("kind_counters").info.id

        let second = try BPFObject(bytes: EmbeddedObjects.xdpCount.bytes, name: "xdp_count", options: options)
        let reused = try second.map("kind_counters")
        #expect(reused.info.id == firstID)
        #expect(try TypedMap<UInt32, PacketCounter>(reused).lookupPerCPU(UInt32(2)) == written)
        // The map not named in the options is new in each object.
        #expect(try second.map("prog_counters").info.id != first.map("prog_counters").info.id)

        // A program of the second object counts into the shared map.
        let frame = PacketBuilder.ethernet(destination: [2, 0, 0, 0, 0, 2], source: [2, 0, 0, 0, 0, 1], etherType: 0x86dd)
            + [UInt8](repeating: 0, count: 40)
        _ = try second.program("xdp_count").testRun(TestRunOptions(data: frame))
        let total = try TypedMap<UInt32, PacketCounter>(first.map("kind_counters")).lookupSum(UInt32(2))
        #expect(total?.packets == written.reduce(0) { $0 + $1.packets } + 1)
    }

    @Test func pinnedMapOutlivesItsObject() throws {
        let pins = try PinDirectory()
        let path = pins.pin("test_map")
        do {
            let object = try BPFObject(bytes: EmbeddedObjects.xdpCount.bytes, name: "xdp_count")
            let map = try object.map("prog_counters")
            try TypedMap<UInt32, PacketCounter>(map).update(1, PacketCounter(packets: 4, bytes: 44))
            try map.pin(at: path)
        }
        let reopened = try BPFMap.openPinned(path)
        #expect(reopened.info.name == "prog_counters")
        #expect(try TypedMap<UInt32, PacketCounter>(reopened).lookupSum(UInt32(1))?.bytes == UInt64(44 * (try possibleCPUCount())))
        try BPFMap.unpin(path)
        #expect(throws: BPFError.self) { _ = try BPFMap.openPinned(path) }
    }

    @Test func pinnedProgramCanBeReopened() throws {
        let pins = try PinDirectory()
        let object = try BPFObject(bytes: EmbeddedObjects.xdpReflect.bytes, name: "xdp_reflect")
        let program = try object.program("xdp_reflect")
        try program.pin(at: pins.pin("prog"))
        let reopened = try BPFProgram.openPinned(pins.pin("prog"))
        #expect(try reopened.info().id == program.info().id)
        #expect(reopened.type == .xdp)
    }
}
