import BPFKit
import BPFTestObjects
@testable import HikeRuntime
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
        #expect(c["sizeof(struct hvm_chain)"] == UInt64(Layout.chainValueSize))
        #expect(c["offsetof(hvm_state, last)"] == UInt64(Layout.resultOffset))
        #expect(c["sizeof(struct hvm_event)"] == 32)
        #expect(c["sizeof(struct hvm_loader_config)"] == 8)
        #expect(c["sizeof(struct hike_prog_meta)"] == UInt64(2 * ABI.nameLength + 8 + ABI.argsMax * (ABI.argTypeLength + ABI.argNameLength)))
        #expect(c["sizeof(struct hike_prog_fact)"] == UInt64(2 * ABI.nameLength + 4))
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
