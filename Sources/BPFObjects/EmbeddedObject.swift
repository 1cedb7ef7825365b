import Foundation

/// An eBPF object file compiled from `bpf/` at build time and carried inside the binary.
public struct EmbeddedObject: Sendable, Hashable {
    /// The source's file name without `.bpf.c`, e.g. `xdp_count`.
    public let name: String
    /// The source path relative to the package root, e.g. `bpf/demo/xdp_count.bpf.c`.
    public let source: String
    /// The ELF object (BTF kept, DWARF stripped).
    public let bytes: [UInt8]

    public init(name: String, source: String, base64: String) {
        self.name = name
        self.source = source
        // The plugin wrote this string from `base64 -w0`: it always decodes.
        self.bytes = Data(base64Encoded: base64).map { [UInt8]($0) } ?? []
    }
}

// Test logs and messages name an object by its source and size, not by its bytes: a
// parameterized test over the objects printed megabytes of them.
extension EmbeddedObject: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String { "\(name) (\(source), \(bytes.count) bytes)" }
    public var debugDescription: String { description }
}
