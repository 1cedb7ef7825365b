import CBPF
import Foundation
import HikeErrors

/// A C type as BTF describes it, resolved into a tree: what a map's key or value looks like.
///
/// Typedefs, `const`, `volatile`, `restrict` and type tags are resolved to the type they name;
/// the names they went through stay in ``aliases`` (`__be32`, `__u8`, …) because some of them
/// say how to read the bytes (a `__be32` named `addr` is an IPv4 address).
public struct BTFType: Sendable, Hashable, CustomStringConvertible {
    /// The resolved type's own name: `int`, `unsigned char`, `in6_addr`, … ("" when anonymous).
    public var name: String
    /// The typedef names the declaration went through, outermost first (`["__be32", "__u32"]`).
    public var aliases: [String]
    /// Size in bytes.
    public var size: Int
    public var kind: Kind

    public indirect enum Kind: Sendable, Hashable {
        /// An integer; `isChar` for C's `char` (BTF_INT_CHAR or named `char`), `isBool` for `_Bool`.
        case int(signed: Bool, isChar: Bool, isBool: Bool, bits: Int)
        case float
        /// A pointer: only its value (an address) is meaningful outside the kernel.
        case pointer
        case array(element: BTFType, count: Int)
        case structure(members: [BTFMember])
        case union(members: [BTFMember])
        case enumeration(cases: [BTFEnumCase], signed: Bool)
        /// Anything else with a size (void, a forward declaration, a function): read as bytes.
        case opaque
    }

    public init(name: String, aliases: [String] = [], size: Int, kind: Kind) {
        self.name = name
        self.aliases = aliases
        self.size = size
        self.kind = kind
    }

    /// The name a C programmer would write: the outermost typedef, else `struct x`, `int`, ….
    public var cName: String {
        if let alias = aliases.first { return alias }
        switch kind {
        case .structure: return name.isEmpty ? "struct {…}" : name.hasPrefix(".") ? name : "struct \(name)"
        case .union: return name.isEmpty ? "union {…}" : "union \(name)"
        case .enumeration: return name.isEmpty ? "enum {…}" : "enum \(name)"
        case .array(let element, let count): return "\(element.cName)[\(count)]"
        case .pointer: return name.isEmpty ? "void *" : name
        default: return name.isEmpty ? "\(size)-byte type" : name
        }
    }

    public var description: String { cName }

    /// Whether the type (or one of its typedefs) is called `name`.
    public func isNamed(_ candidate: String) -> Bool {
        name == candidate || aliases.contains(candidate)
    }

    /// Members of a struct or union (empty for other kinds).
    public var members: [BTFMember] {
        switch kind {
        case .structure(let members), .union(let members): members
        default: []
        }
    }
}

/// A struct or union member.
public struct BTFMember: Sendable, Hashable {
    /// "" for an anonymous struct or union member, whose members belong to the parent.
    public var name: String
    /// Offset from the start of the parent, in bits.
    public var bitOffset: Int
    /// Width in bits for a bitfield, 0 otherwise.
    public var bitfieldSize: Int
    public var type: BTFType

    public init(name: String, bitOffset: Int, bitfieldSize: Int = 0, type: BTFType) {
        self.name = name
        self.bitOffset = bitOffset
        self.bitfieldSize = bitfieldSize
        self.type = type
    }

    /// Offset in bytes (for members that are not bitfields).
    public var offset: Int { bitOffset / 8 }
}

public struct BTFEnumCase: Sendable, Hashable {
    public var name: String
    /// The value, as the enum's bits (for unsigned 64-bit enums, the bit pattern).
    public var value: Int64

    public init(name: String, value: Int64) {
        self.name = name
        self.value = value
    }
}

/// The key and value types of a map, from the BTF the kernel keeps with it.
public struct MapBTF: Sendable, Hashable {
    /// nil when the map has no BTF for its key (maps created without BTF, prog arrays, …).
    public var key: BTFType?
    public var value: BTFType?

    public init(key: BTFType?, value: BTFType?) {
        self.key = key
        self.value = value
    }

    /// No type information: the codec falls back to integers and hex.
    public static let none = MapBTF(key: nil, value: nil)
}

/// Why a map's BTF could not be read.
public struct BTFError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension BPFMap {
    /// The key and value types from the kernel's BTF for this map; `.none` when the map was
    /// created without BTF. Throws when the kernel has BTF for it that cannot be read.
    public func btfTypes() throws -> MapBTF {
        var raw = bpf_map_info()
        var length = UInt32(MemoryLayout<bpf_map_info>.size)
        let code = bpf_obj_get_info_by_fd(fd, &raw, &length)
        if code < 0 { throw BPFError.fromErrno("read info of map '\(name)'", code: code) }
        guard raw.btf_id != 0, raw.btf_key_type_id != 0 || raw.btf_value_type_id != 0 else { return .none }
        return try MapBTF(btfID: raw.btf_id, keyTypeID: raw.btf_key_type_id, valueTypeID: raw.btf_value_type_id,
                          keySize: keySize, valueSize: valueSize, mapName: name)
    }
}

extension MapBTF {
    /// Reads BTF object `btfID` from the kernel and resolves the two type IDs (0 = none).
    /// A type whose size disagrees with the map's is dropped (the codec then uses bytes).
    init(btfID: UInt32, keyTypeID: UInt32, valueTypeID: UInt32, keySize: Int, valueSize: Int, mapName: String) throws {
        guard let btf = btf__load_from_kernel_by_id(btfID) else {
            throw BTFError("load BTF object \(btfID) of map '\(mapName)' failed: \(String(cString: strerror(Glibc.errno)))")
        }
        defer { btf__free(btf) }
        var reader = BTFReader(btf: btf)
        let key = keyTypeID == 0 ? nil : try reader.type(keyTypeID)
        let value = valueTypeID == 0 ? nil : try reader.type(valueTypeID)
        self.init(key: key?.size == keySize ? key : nil, value: value?.size == valueSize ? value : nil)
    }
}

/// BTF kind numbers (linux/btf.h); libbpf's btf.h also defines some as macros, which Swift
/// finds ambiguous.
enum BTFKind {
    static let int: Int32 = 1, ptr: Int32 = 2, array: Int32 = 3, struct_: Int32 = 4, union: Int32 = 5, enum_: Int32 = 6
    static let typedef: Int32 = 8, volatile: Int32 = 9, const: Int32 = 10, restrict: Int32 = 11
    static let variable: Int32 = 14, datasec: Int32 = 15, float: Int32 = 16, typeTag: Int32 = 18, enum64: Int32 = 19
}

/// Walks libbpf's `struct btf`, turning type IDs into ``BTFType`` trees.
struct BTFReader {
    let btf: OpaquePointer
    private var cache: [UInt32: BTFType] = [:]

    init(btf: OpaquePointer) {
        self.btf = btf
    }

    /// Nesting deeper than this is refused (BTF from the kernel is acyclic through values, but
    /// nothing here trusts that).
    static let maximumDepth = 64

    mutating func type(_ id: UInt32) throws -> BTFType {
        try type(id, depth: 0)
    }

    private func name(_ offset: UInt32) -> String {
        guard let text = btf__name_by_offset(btf, offset) else { return "" }
        return String(cString: text)
    }

    private mutating func type(_ id: UInt32, depth: Int) throws -> BTFType {
        if let known = cache[id] { return known }
        guard depth < Self.maximumDepth else { throw BTFError("BTF type \(id) nests deeper than \(Self.maximumDepth) levels") }
        if id == 0 { return BTFType(name: "void", size: 0, kind: .opaque) }
        guard let t = btf__type_by_id(btf, id) else { throw BTFError("BTF has no type \(id)") }
        let ownName = name(t.pointee.name_off)
        let kind = Int32(btf_kind(t))  // compared with BTFKind: libbpf redefines some BTF_KIND_* as macros
        var result: BTFType
        switch kind {
        case BTFKind.int:
            let encoding = Int32(btf_int_encoding(t))
            let isChar = encoding & BTF_INT_CHAR != 0 || ownName == "char"
            result = BTFType(name: ownName, size: Int(t.pointee.size),
                             kind: .int(signed: encoding & BTF_INT_SIGNED != 0, isChar: isChar,
                                        isBool: encoding & BTF_INT_BOOL != 0, bits: Int(btf_int_bits(t))))
        case BTFKind.float:
            result = BTFType(name: ownName, size: Int(t.pointee.size), kind: .float)
        case BTFKind.ptr:
            result = BTFType(name: ownName, size: MemoryLayout<UInt>.size, kind: .pointer)
        case BTFKind.array:
            guard let array = btf_array(t) else { throw BTFError("BTF array \(id) has no element type") }
            let element = try type(array.pointee.type, depth: depth + 1)
            let count = Int(array.pointee.nelems)
            let (size, overflow) = element.size.multipliedReportingOverflow(by: count)
            guard !overflow, size <= Int(UInt32.max) else { throw BTFError("BTF array \(id) is too large (\(count) × \(element.size) bytes)") }
            result = BTFType(name: ownName, size: size, kind: .array(element: element, count: count))
        case BTFKind.struct_, BTFKind.union:
            var members: [BTFMember] = []
            if let first = btf_members(t) {
                for index in 0..<Int(btf_vlen(t)) {
                    let member = first[index]
                    let memberType = try type(member.type, depth: depth + 1)
                    members.append(BTFMember(name: name(member.name_off),
                                             bitOffset: Int(btf_member_bit_offset(t, UInt32(index))),
                                             bitfieldSize: Int(btf_member_bitfield_size(t, UInt32(index))),
                                             type: memberType))
                }
            }
            let size = Int(t.pointee.size)
            result = BTFType(name: ownName, size: size,
                             kind: kind == BTFKind.struct_ ? .structure(members: members) : .union(members: members))
        case BTFKind.enum_:
            var cases: [BTFEnumCase] = []
            let signed = btf_kflag(t)
            if let first = btf_enum(t) {
                for index in 0..<Int(btf_vlen(t)) {
                    let value = first[index].val
                    cases.append(BTFEnumCase(name: name(first[index].name_off),
                                             value: signed ? Int64(value) : Int64(UInt32(bitPattern: value))))
                }
            }
            result = BTFType(name: ownName, size: Int(t.pointee.size), kind: .enumeration(cases: cases, signed: signed))
        case BTFKind.enum64:
            var cases: [BTFEnumCase] = []
            if let first = btf_enum64(t) {
                for index in 0..<Int(btf_vlen(t)) {
                    let bits = UInt64(first[index].val_hi32) << 32 | UInt64(first[index].val_lo32)
                    cases.append(BTFEnumCase(name: name(first[index].name_off), value: Int64(bitPattern: bits)))
                }
            }
            result = BTFType(name: ownName, size: Int(t.pointee.size), kind: .enumeration(cases: cases, signed: btf_kflag(t)))
        case BTFKind.datasec:
            // A global-data section (.bss, .data, .rodata): its variables, as a struct's members.
            var members: [BTFMember] = []
            if let first = btf_var_secinfos(t) {
                for index in 0..<Int(btf_vlen(t)) {
                    let info = first[index]
                    guard let variable = btf__type_by_id(btf, info.type), Int32(btf_kind(variable)) == BTFKind.variable else { continue }
                    let variableType = try type(variable.pointee.type, depth: depth + 1)
                    members.append(BTFMember(name: name(variable.pointee.name_off), bitOffset: Int(info.offset) * 8, type: variableType))
                }
            }
            result = BTFType(name: ownName, size: Int(t.pointee.size), kind: .structure(members: members))
        case BTFKind.typedef:
            result = try type(t.pointee.type, depth: depth + 1)
            result.aliases.insert(ownName, at: 0)
        case BTFKind.const, BTFKind.volatile, BTFKind.restrict, BTFKind.typeTag:
            result = try type(t.pointee.type, depth: depth + 1)
        default:
            let size = btf__resolve_size(btf, id)
            result = BTFType(name: ownName, size: size > 0 ? Int(size) : 0, kind: .opaque)
        }
        cache[id] = result
        return result
    }
}

extension BTFError: HikeError {
    public var code: String { "bpf.btf" }
}
