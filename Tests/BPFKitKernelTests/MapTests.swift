import BPFKit
import BPFTestObjects
import HikeTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Map operations against real kernel maps.
@Suite(.serialized) struct MapTests {
    let object: BPFObject

    init() throws {
        try KernelTest.prepare()
        object = try BPFObject(bytes: EmbeddedTestObjects.testMaps.bytes, name: "test_maps")
    }

    @Test func infoDescribesTheMap() throws {
        let info = try object.map("test_hash").info
        #expect(info.type == .hash)
        #expect(info.keySize == 4 && info.valueSize == 8 && info.maxEntries == 64)
        #expect(info.id > 0)
        #expect(info.name == "test_hash")
    }

    @Test func typedUpdateLookupDelete() throws {
        let map = try object.map("test_hash")
        #expect(try map.lookup(UInt32(7), as: UInt64.self) == nil)
        try map.update(UInt32(7), UInt64(700))
        #expect(try map.lookup(UInt32(7), as: UInt64.self) == 700)
        try map.update(UInt32(7), UInt64(701), flags: .exist)
        #expect(try map.lookup(UInt32(7), as: UInt64.self) == 701)
        #expect(try map.delete(UInt32(7)))
        #expect(try !map.delete(UInt32(7)))
    }

    @Test func updateFlagsAreEnforcedByTheKernel() throws {
        let map = try object.map("test_hash")
        try map.update(UInt32(8), UInt64(1), flags: .noExist)
        let exists = #expect(throws: BPFError.self) { try map.update(UInt32(8), UInt64(2), flags: .noExist) }
        #expect(exists?.errno == EEXIST)
        let missing = #expect(throws: BPFError.self) { try map.update(UInt32(9), UInt64(2), flags: .exist) }
        #expect(missing?.errno == ENOENT)
        #expect(try map.lookup(UInt32(8), as: UInt64.self) == 1)
    }

    @Test func wrongSizesAreRejectedBeforeTheKernel() throws {
        let map = try object.map("test_hash")
        let error = #expect(throws: BPFError.self) { try map.update(UInt64(1), UInt64(1)) }
        #expect(error?.message.contains("key is 8 bytes, the map needs 4") == true)
        #expect(throws: BPFError.self) { _ = try map.lookupPerCPU(UInt32(1), as: UInt64.self) }
    }

    @Test func iterationAndBatchesSeeEveryEntry() throws {
        let map = try object.map("test_hash")
        let entries = (100..<140).map { (key: UInt32($0), value: UInt64($0) * 10) }
        try map.updateBatch(entries.map { (BPFMap.bytesOf($0.key), BPFMap.bytesOf($0.value)) })

        let iterated = try map.entries(as: (UInt32.self, UInt64.self))
        #expect(Dictionary(uniqueKeysWithValues: iterated.map { ($0.key, $0.value) })
                == Dictionary(uniqueKeysWithValues: entries.map { ($0.key, $0.value) }))

        // Small chunks force several BPF_MAP_LOOKUP_BATCH calls.
        let batched = try map.lookupBatch(chunk: 7)
        #expect(batched.count == entries.count)
        #expect(Set(batched.map { $0.key }) == Set(entries.map { BPFMap.bytesOf($0.key) }))

        try map.deleteBatch(entries.prefix(30).map { BPFMap.bytesOf($0.key) })
        #expect(try map.keys().count == 10)
    }

    /// A struct value laid out by the map's BTF (struct hike_counter), read back from the
    /// kernel's bytes.
    @Test func structValuesGoThroughTheMapsBTF() throws {
        let raw = try object.map("test_array")
        let map = try TypedMap<UInt32, PacketCounter>(raw)
        try map.update(3, PacketCounter(packets: 5, bytes: 1 << 60))
        #expect(try map.lookup(3) == PacketCounter(packets: 5, bytes: 1 << 60))
        #expect(try raw.lookup(key: BPFMap.bytesOf(UInt32(3))) == BPFMap.bytesOf(UInt64(5)) + BPFMap.bytesOf(UInt64(1) << 60))
        // Arrays have every key; unset ones read as zero.
        #expect(try map.lookup(4) == .zero)
        // A member the C struct lacks is refused before the kernel.
        struct Stray: Codable { var packets: UInt64; var drops: UInt64 }
        #expect(throws: MapJSONError.self) { try TypedMap<UInt32, Stray>(raw).update(3, Stray(packets: 1, drops: 2)) }
        #expect(try map.lookup(3)?.packets == 5)
    }

    @Test func perCPUValuesPerCPUAndSummed() throws {
        let map = try object.map("test_percpu")
        let cpus = try possibleCPUCount()
        #expect(cpus >= 1)
        let values = (0..<cpus).map { UInt32($0 + 1) * 11 }
        try map.updatePerCPU(UInt32(2), values)
        #expect(try map.lookupPerCPU(UInt32(2), as: UInt32.self) == values)
        #expect(try map.lookupSum(UInt32(2), as: UInt32.self) == values.reduce(0, +))
        #expect(try map.lookupPerCPU(UInt32(3), as: UInt32.self) == nil)
        // A per-CPU map read as a plain one is a misuse, caught before the kernel.
        #expect(throws: BPFError.self) { _ = try map.lookup(UInt32(2), as: UInt32.self) }
    }

    @Test func programWritesAreVisibleToSwift() throws {
        let map = try object.map("test_hash")
        try map.update(UInt32(1), UInt64(0))
        let frame = [UInt8](repeating: 0xab, count: 64)
        _ = try object.program("touch_maps").testRun(TestRunOptions(data: frame, repeatCount: 3))
        #expect(try map.lookup(UInt32(1), as: UInt64.self) == 3 * 64)
    }
}
