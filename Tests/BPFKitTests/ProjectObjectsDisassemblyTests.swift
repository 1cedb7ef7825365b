import BPFKit
import BPFObjects
import BPFTestObjects
import Foundation
import Testing

/// The disassembler's text equals llvm-objdump's on every instruction of hike's own objects.
struct ProjectObjectsDisassemblyTests {
    @Test(arguments: EmbeddedObjects.all + EmbeddedTestObjects.all)
    func disassemblyMatchesObjdump(object: EmbeddedObject) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hike-\(getpid())-\(object.name).o").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data(object.bytes)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (compared, mismatches) = try objdumpComparison(objectPath: path)
        #expect(compared > 0, "objdump listed no instruction of \(object.name)")
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(compared) lines differ:\n\(mismatches.prefix(5).map(\.description).joined(separator: "\n"))")
    }
}
