import BPFKit
import BPFObjects
import Foundation
import BPFTestObjects
@testable import HikeRuntime
import HikeTestSupport
import HikeVM
import Testing

/// vm_abi.h is the single source of truth: the constants and layouts the Swift side uses must
/// equal what the C side compiles with (read back from bpf/tests/vm_abi_export.bpf.c).
struct ABITests {
    /// name → value, as the C compiler saw them.
    func exported() throws -> [String: UInt64] {
        let section = try #require(try ELFSections(bytes: EmbeddedTestObjects.vmAbiExport.bytes)[".hike.abi"])
        var constants: [String: UInt64] = [:]
        for start in stride(from: 0, to: section.count, by: 48) {
            let name = String(decoding: section[start..<start + 40].prefix { $0 != 0 }, as: UTF8.self)
            constants[name] = Layout.u64(Array(section[start + 40..<start + 48]), 0)
        }
        return constants
    }

    @Test func everySwiftConstantEqualsTheHeader() throws {
        let c = try exported()
        #expect(!ABI.constants.isEmpty)
        for (name, value) in ABI.constants.sorted(by: { $0.key < $1.key }) {
            #expect(c[name] == value, "\(name): Swift \(value), C \(c[name].map(String.init) ?? "not exported")")
        }
        // And every numeric macro the C side exports is known to Swift.
        let macros = c.keys.filter { !$0.hasPrefix("sizeof") && !$0.hasPrefix("offsetof") }
        #expect(Set(macros).subtracting(ABI.constants.keys).isEmpty, "unknown to Swift: \(Set(macros).subtracting(ABI.constants.keys).sorted())")
    }

    @Test func layoutsTheRuntimeUsesMatchTheStructs() throws {
        let c = try exported()
        #expect(c["sizeof(struct hvm_event)"] == 32)
        #expect(c["sizeof(struct hvm_loader_config)"] == 8)
        #expect(c["sizeof(struct hike_prog_meta)"] == UInt64(2 * ABI.nameLength + 8 + ABI.argsMax * (ABI.argTypeLength + ABI.argNameLength)))
        #expect(c["sizeof(struct hike_prog_fact)"] == UInt64(2 * ABI.nameLength + 4))
    }

    /// The Swift entries of the VM's maps name every member of their C structs, and a chain
    /// laid out by the object's BTF reads back as written, at the C compiler's offsets.
    @Test func theEntriesMirrorEveryMemberOfTheirStructs() throws {
        let c = try exported()
        let chain = VMChainSlot(id: 0x8000_0007, instructions: [.mov64(.r0, imm: 2), .ldImm64(dst: .r1, imm: 0x1122_3344_5566_7788), .exit])
        let entries: [(String, any Encodable)] = [
            ("hvm_chain", chain), ("hvm_insn", VMInstructionSlot.empty),
            ("hvm_loader_config", LoaderConfigEntry(chainID: 1, defaultVerdict: 2)),
            ("hvm_fault_key", FaultKey(chainID: 1, reason: 2)),
            ("hvm_result", VMResultEntry(r0: 0, verdict: 0, fault: 0, chainID: 0, pc: 0, sequence: 0)),
        ]
        for (name, entry) in entries {
            let type = try BTFMirror.structNamed(name)
            let size = c["sizeof(struct \(name))"]
            #expect(UInt64(type.size) == size, "\(name): BTF \(type.size) bytes, C \(size.map(String.init) ?? "not exported")")
            #expect(try BTFMirror.unshared(entry, type) == [], "\(name): members only one side has")
        }

        let chainType = try BTFMirror.structNamed("hvm_chain")
        let codec = MapJSONCodec(type: chainType, size: chainType.size)
        let bytes = try BTFCoding.encode(chain, with: codec, path: "hvm_chain")
        #expect(Array(bytes[0..<8]) == [7, 0, 0, 0x80, 4, 0, 0, 0])  // id, then ninsn: LD_IMM64 takes two slots
        #expect(Array(bytes[16..<24]) == [0xb7, 0x00, 0, 0, 2, 0, 0, 0])  // mov64 r0, 2
        let back = try BTFCoding.decode(VMChainSlot.self, from: bytes, with: codec, path: "hvm_chain")
        #expect(try back.instructions == [.mov64(.r0, imm: 2), .ldImm64(dst: .r1, imm: 0x1122_3344_5566_7788), .exit])
        // hike reads hvm_state's `last` only: it must be a struct hvm_result.
        let state = try BTFMirror.structNamed("hvm_state")
        #expect(state.members.first { $0.name == "last" }?.type.isNamed("hvm_result") == true)
    }

    @Test func catalogReadsTheDecorators() throws {
        let catalog = try ProgramCatalog()
        let monitor = try catalog.entry("monitor")
        #expect(monitor.package == "hike_default" && monitor.kind == .program)
        #expect(monitor.arguments == [ProgramArgument(type: "__u64", name: "event")])
        #expect(monitor.maps == ["monitor_events"] && !monitor.isFinal)
        #expect(try catalog.entry("hike_pass").isFinal)
        let lpm = try catalog.entry("ip6_lpm_classifier")
        #expect(lpm.kind == .loader && Set(lpm.maps) == ["ip6_lpm_routes", "ip6_lpm_cfg"])
        #expect(throws: RuntimeError.self) { _ = try catalog.entry("no_such_program") }
    }
}
