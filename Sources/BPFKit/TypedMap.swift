import CBPF
import Foundation

/// Swift values laid out by BTF: the one way hike puts structs into maps and reads them back.
///
/// A Swift type mirrors a C struct by naming its members (its coding keys are the C member
/// names); the BTF of the map, or of the object, places them. Nothing in Swift knows an offset
/// or a size, so the layout cannot drift from the C header (cilium/ebpf's bpf2go generates Go
/// types from BTF for the same reason). Members a type leaves out are zero; a member the C
/// struct lacks is an error naming the struct's members. Addresses are their text (`fc00::1`),
/// as `hike map dump` prints them.
public enum BTFCoding {
    /// The bytes of value as `codec`'s type lays it out.
    public static func encode(_ value: some Encodable, with codec: MapJSONCodec, path: String) throws(MapJSONError) -> [UInt8] {
        try codec.encode(try json(of: value, path: path), path: path)
    }

    /// A value read back from bytes `codec`'s type lays out.
    public static func decode<Value: Decodable>(_: Value.Type, from bytes: [UInt8], with codec: MapJSONCodec,
                                                path: String) throws(MapJSONError) -> Value {
        try value(Value.self, from: codec.decode(bytes, exactIntegers: true), path: path)
    }

    /// A value from the JSON the codec decoded (with exact integers).
    static func value<Value: Decodable>(_: Value.Type, from json: MapJSONValue, path: String) throws(MapJSONError) -> Value {
        let text = json.jsonText()
        do {
            return try JSONDecoder().decode(Value.self, from: Data(text.utf8))
        } catch {
            throw MapJSONError(path: path, "\(text) does not read as \(Value.self): \(error)")
        }
    }

    /// value as the JSON the codec takes (Foundation writes it; our parser keeps integers exact).
    static func json(of value: some Encodable, path: String) throws(MapJSONError) -> MapJSONValue {
        let data: Data
        do {
            data = try JSONEncoder().encode(value)
        } catch {
            throw MapJSONError(path: path, "\(type(of: value)) does not encode: \(error)")
        }
        return try MapJSONValue.parse(String(decoding: data, as: UTF8.self))
    }
}

extension MapJSONCodec {
    /// The codec of one member of this struct, and its offset: reading a member alone skips
    /// decoding the rest (hvm_state's frames, when only its result is wanted).
    public func member(_ name: String) -> (offset: Int, codec: MapJSONCodec)? {
        guard let member = type?.members.first(where: { $0.name == name && $0.bitfieldSize == 0 }) else { return nil }
        return (member.offset, MapJSONCodec(type: member.type, size: member.type.size))
    }
}

/// A map with typed keys and values (``BTFCoding``): the codecs come from the map's BTF once,
/// when the map is wrapped.
public struct TypedMap<Key: Codable & Sendable, Value: Codable & Sendable>: Sendable {
    public let map: BPFMap
    public let codecs: MapJSON

    public init(_ map: BPFMap) throws {
        self.map = map
        self.codecs = try MapJSON(map: map)
        if let problem = codecs.btfError { throw BTFError("map '\(map.name)': \(problem)") }
    }

    public func encodeKey(_ key: Key) throws(MapJSONError) -> [UInt8] {
        try BTFCoding.encode(key, with: codecs.key, path: "\(map.name) key")
    }

    public func decodeKey(_ bytes: [UInt8]) throws(MapJSONError) -> Key {
        try BTFCoding.decode(Key.self, from: bytes, with: codecs.key, path: "\(map.name) key")
    }

    /// One value as a map that is not per-CPU holds it.
    public func decodeValue(_ bytes: [UInt8]) throws(MapJSONError) -> Value {
        try BTFCoding.decode(Value.self, from: bytes, with: codecs.value, path: "\(map.name) value")
    }

    /// Writes one entry; a per-CPU map gets the value on every CPU.
    public func update(_ key: Key, _ value: Value, flags: MapUpdateFlags = .any) throws {
        let json = try BTFCoding.json(of: value, path: "\(map.name) value")
        try map.update(key: try encodeKey(key), value: try named { () throws(MapJSONError) in try codecs.encodeValue(json) }, flags: flags)
    }

    /// Writes one value per possible CPU (a per-CPU map).
    public func updatePerCPU(_ key: Key, _ values: [Value], flags: MapUpdateFlags = .any) throws {
        let json = MapJSONValue.array(try values.map { value throws(MapJSONError) in try BTFCoding.json(of: value, path: "\(map.name) value") })
        try map.update(key: try encodeKey(key), value: try named { () throws(MapJSONError) in try codecs.encodeValue(json) }, flags: flags)
    }

    /// A per-CPU value summed over the CPUs (the value itself for other maps).
    public func lookupSum(_ key: Key) throws -> Value? where Value: AdditiveArithmetic {
        try lookupPerCPU(key).map { $0.reduce(.zero, +) }
    }

    public func lookup(_ key: Key) throws -> Value? {
        try lookupPerCPU(key)?.first
    }

    /// Every CPU's value (one for a map that is not per-CPU).
    public func lookupPerCPU(_ key: Key) throws -> [Value]? {
        guard let buffer = try map.lookup(key: try encodeKey(key)) else { return nil }
        return try values(buffer)
    }

    @discardableResult
    public func delete(_ key: Key) throws -> Bool {
        try map.delete(key: try encodeKey(key))
    }

    /// Every entry, each value per CPU.
    public func entries() throws -> [(key: Key, values: [Value])] {
        try map.entries().map { entry in
            (try decodeKey(entry.key), try values(entry.value))
        }
    }

    /// The values of a buffer as the kernel returns it (MapJSON splits the per-CPU slots).
    private func values(_ buffer: [UInt8]) throws(MapJSONError) -> [Value] {
        try codecs.decodeValues(buffer, exactIntegers: true).map { json throws(MapJSONError) in
            try BTFCoding.value(Value.self, from: json, path: "\(map.name) value")
        }
    }

    /// MapJSON's errors name the part (`value`, `value[cpu 1]`); these add the map.
    private func named(_ body: () throws(MapJSONError) -> [UInt8]) throws(MapJSONError) -> [UInt8] {
        do { return try body() } catch { throw MapJSONError(path: "\(map.name) \(error.path)", error.message) }
    }
}

extension ObjectSpec {
    /// A struct's type from the object's BTF, without the kernel: what tests check Swift mirrors
    /// against, and what ``BTFCoding`` lays values out by before a map exists.
    public func btfStruct(named name: String) throws -> BTFType {
        guard let type = try btfStructIfPresent(named: name) else { throw BTFError("\(self.name)'s BTF has no struct \(name)") }
        return type
    }

    /// A struct's type from the object's BTF, or nil when the object has no such struct (or no BTF).
    public func btfStructIfPresent(named name: String) throws -> BTFType? {
        guard let section = try ELFSections(bytes: bytes)[".BTF"] else { return nil }
        let parsed = section.withUnsafeBytes { raw in btf__new(raw.baseAddress, UInt32(raw.count)) }
        guard let btf = parsed, libbpf_get_error(UnsafeRawPointer(btf)) == 0 else {
            throw BTFError("\(self.name): its .BTF section does not parse")
        }
        defer { btf__free(btf) }
        let id = btf__find_by_name_kind(btf, name, UInt32(BTFKind.struct_))
        guard id > 0 else { return nil }
        var reader = BTFReader(btf: btf)
        return try reader.type(UInt32(id))
    }
}
