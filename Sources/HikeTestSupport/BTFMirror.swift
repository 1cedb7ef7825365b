import BPFKit
import BPFObjects
import Foundation

/// Checks that a Swift map entry mirrors its C struct: the coding keys it writes are the
/// struct's members, no more, no fewer (BTFCoding lays the entry out by those names).
public enum BTFMirror {
    /// The member names only one side has; empty when entry mirrors type.
    public static func unshared(_ entry: some Encodable, _ type: BTFType) throws -> [String] {
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(entry)) as? [String: Any] ?? [:]
        return Set(json.keys).symmetricDifference(type.members.map(\.name)).sorted()
    }

    /// A struct from the BTF of the first embedded object that has it (loaders carry
    /// hvm_loader_config, packages the VM's structs).
    public static func structNamed(_ name: String, in objects: [EmbeddedObject] = EmbeddedObjects.all) throws -> BTFType {
        for object in objects {
            if let type = try ObjectSpec(bytes: object.bytes, name: object.name).btfStructIfPresent(named: name) { return type }
        }
        throw BTFError("no embedded object's BTF has struct \(name)")
    }
}
