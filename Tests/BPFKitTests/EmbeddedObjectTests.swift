import BPFObjects
import BPFTestObjects
import Testing

/// The build plugin's output: every .bpf.c became an eBPF ELF object inside the binary.
struct EmbeddedObjectTests {
    @Test(arguments: EmbeddedObjects.all + EmbeddedTestObjects.all)
    func objectIsA64BitLittleEndianBPFELF(object: EmbeddedObject) {
        let bytes = object.bytes
        #expect(bytes.count > 64, "\(object.name) is empty")
        #expect(Array(bytes.prefix(4)) == [0x7f, 0x45, 0x4c, 0x46])  // \x7fELF
        #expect(bytes[4] == 2)  // ELFCLASS64
        #expect(bytes[5] == 1)  // little endian
        #expect(UInt16(bytes[18]) | UInt16(bytes[19]) << 8 == 247)  // e_machine EM_BPF
    }

    @Test func everySourceIsEmbeddedOnceUnderItsName() {
        let names = EmbeddedObjects.all.map(\.name)
        #expect(Set(names).count == names.count)
        #expect(names.contains("xdp_count"))
        #expect(EmbeddedObjects.named("xdp_count")?.source == "bpf/demo/xdp_count.bpf.c")
        #expect(EmbeddedObjects.named("verifier_reject") == nil, "test objects must stay out of the product")
        #expect(EmbeddedTestObjects.named("verifier_reject")?.source == "bpf/tests/verifier_reject.bpf.c")
    }
}
