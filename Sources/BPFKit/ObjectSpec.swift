import CBPF
import Foundation

/// An eBPF ELF object as bytes, not yet in the kernel (cilium/ebpf's CollectionSpec).
///
/// Reading what a spec contains touches no kernel state: libbpf opens the ELF without loading it.
public struct ObjectSpec: Sendable, Hashable {
    /// A name for errors and for libbpf (`object_name`).
    public let name: String
    public let bytes: [UInt8]

    public init(bytes: [UInt8], name: String) {
        self.bytes = bytes
        self.name = name
    }

    /// Reads an object file from disk.
    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BPFError(operation: "read object file \(path)", errno: ENOENT,
                           message: "no readable file at that path")
        }
        let base = (path as NSString).lastPathComponent
        self.init(bytes: [UInt8](data), name: base.hasSuffix(".o") ? String(base.dropLast(2)) : base)
    }

    /// A program as the ELF declares it.
    public struct ProgramSpec: Sendable, Hashable {
        public let name: String
        /// The ELF section, e.g. `xdp` or `tc`.
        public let section: String
        public let type: ProgramType
    }

    /// A map as the ELF declares it.
    public struct MapSpec: Sendable, Hashable {
        public let name: String
        public let type: MapType
        public let keySize: UInt32
        public let valueSize: UInt32
        public let maxEntries: UInt32
    }

    /// The programs and maps the object declares, in ELF order.
    public func contents() throws -> (programs: [ProgramSpec], maps: [MapSpec]) {
        let handle = try OpenedObject(spec: self, logBuffer: nil)
        defer { bpf_object__close(handle.pointer) }
        let programs = handle.programs.map { program in
            ProgramSpec(name: String(cString: bpf_program__name(program)),
                        section: String(cString: bpf_program__section_name(program)),
                        type: ProgramType(rawValue: bpf_program__type(program).rawValue))
        }
        let maps = handle.maps.map { map in
            MapSpec(name: String(cString: bpf_map__name(map)),
                    type: MapType(rawValue: bpf_map__type(map).rawValue),
                    keySize: bpf_map__key_size(map), valueSize: bpf_map__value_size(map),
                    maxEntries: bpf_map__max_entries(map))
        }
        return (programs, maps)
    }
}

/// A libbpf `bpf_object` opened from a spec (parsed, not loaded).
struct OpenedObject {
    let pointer: OpaquePointer

    init(spec: ObjectSpec, logBuffer: UnsafeMutableBufferPointer<CChar>?, logLevel: UInt32 = 0) throws {
        let (pointer, lines): (OpaquePointer?, [String]) = spec.bytes.withUnsafeBytes { raw in
            spec.name.withCString { name in
                Libbpf.capturing {
                    var opts = cbpf_bpf_object_open_opts()
                    opts.object_name = name
                    if let logBuffer {
                        opts.kernel_log_buf = logBuffer.baseAddress
                        opts.kernel_log_size = logBuffer.count
                        opts.kernel_log_level = logLevel
                    }
                    return bpf_object__open_mem(raw.baseAddress, raw.count, &opts)
                }
            }
        }
        guard let pointer else {
            throw BPFError.fromErrno("open object '\(spec.name)'", messages: lines)
        }
        self.pointer = pointer
    }

    var programs: [OpaquePointer] {
        var result: [OpaquePointer] = []
        var current = bpf_object__next_program(pointer, nil)
        while let program = current {
            result.append(program)
            current = bpf_object__next_program(pointer, program)
        }
        return result
    }

    var maps: [OpaquePointer] {
        var result: [OpaquePointer] = []
        var current = bpf_object__next_map(pointer, nil)
        while let map = current {
            result.append(map)
            current = bpf_object__next_map(pointer, map)
        }
        return result
    }
}
