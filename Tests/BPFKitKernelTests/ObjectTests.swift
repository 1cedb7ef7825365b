import BPFKit
import BPFObjects
import BPFTestObjects
import HikeTestSupport
import Testing

/// Loading objects: programs and maps by name, and what a rejected program reports.
@Suite(.serialized) struct ObjectTests {
    init() throws { try KernelTest.prepare() }

    @Test func specListsProgramsAndMapsWithoutLoading() throws {
        let spec = ObjectSpec(bytes: EmbeddedObjects.xdpCount.bytes, name: "xdp_count")
        let (programs, maps) = try spec.contents()
        #expect(programs.map(\.name).sorted() == ["xdp_count", "xdp_count_alt"])
        #expect(programs.allSatisfy { $0.type == .xdp && $0.section == "xdp" })
        let kinds = try #require(maps.first { $0.name == "kind_counters" })
        #expect(kinds.type == .percpuArray)
        #expect(kinds.keySize == 4 && kinds.valueSize == 16 && kinds.maxEntries == 8)
    }

    @Test func loadedObjectGivesProgramsAndMapsByName() throws {
        let object = try BPFObject(bytes: EmbeddedObjects.xdpCount.bytes, name: "xdp_count")
        let program = try object.program("xdp_count")
        #expect(program.type == .xdp)
        let info = try program.info()
        #expect(info.name == "xdp_count")
        #expect(info.tag.count == 16)
        let map = try object.map("prog_counters")
        #expect(info.mapIDs.contains(map.info.id))
        #expect(map.info.maxEntries == 2)
        #expect(map.info.name == "prog_counters")

        let missing = #expect(throws: BPFError.self) { try object.program("nope") }
        #expect(missing?.message.contains("xdp_count_alt") == true)
    }

    @Test func everyEmbeddedObjectLoads() throws {
        for embedded in EmbeddedObjects.all {
            let object = try BPFObject(bytes: embedded.bytes, name: embedded.name)
            #expect(!object.programs.isEmpty, "\(embedded.name) has no programs")
        }
    }

    @Test func verifierRejectionCarriesTheVerifierLog() throws {
        let error = #expect(throws: BPFError.self) {
            try BPFObject(bytes: EmbeddedTestObjects.verifierReject.bytes, name: "verifier_reject")
        }
        let log = try #require(error?.verifierLog)
        // The verifier names the offending access: a packet read without a bounds check.
        #expect(log.contains("invalid access to packet"))
        #expect(error?.errno == EACCES)
        #expect(error?.description.contains("invalid access to packet") == true)
    }

    @Test func unknownMapInOptionsIsRejectedBeforeLoading() throws {
        let error = #expect(throws: BPFError.self) {
            try BPFObject(bytes: EmbeddedObjects.xdpCount.bytes, name: "xdp_count",
                          options: ObjectOptions(pinnedMaps: ["no_such_map": "/sys/fs/bpf/x"]))
        }
        #expect(error?.message.contains("kind_counters") == true)
    }
}

#if canImport(Glibc)
import Glibc
#endif
