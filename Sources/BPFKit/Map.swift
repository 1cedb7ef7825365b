import CBPF
import Foundation

/// What the kernel says about a map.
public struct MapInfo: Sendable, Hashable {
    public let id: UInt32
    /// The kernel's name (at most 15 characters).
    public let name: String
    public let type: MapType
    public let keySize: UInt32
    public let valueSize: UInt32
    public let maxEntries: UInt32
    public let flags: UInt32
}

/// Flags for map updates (`BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`, `BPF_F_LOCK`).
public struct MapUpdateFlags: OptionSet, Sendable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Create or replace.
    public static let any: MapUpdateFlags = []
    /// Create only: fail with EEXIST when the key is there.
    public static let noExist = MapUpdateFlags(rawValue: UInt64(BPF_NOEXIST))
    /// Replace only: fail with ENOENT when the key is missing.
    public static let exist = MapUpdateFlags(rawValue: UInt64(BPF_EXIST))
    /// Update under the value's bpf_spin_lock.
    public static let lock = MapUpdateFlags(rawValue: UInt64(BPF_F_LOCK))
}

/// A kernel map, reached through its file descriptor.
///
/// Keys and values are bytes in the kernel's layout. The integer methods take fixed-width
/// integers whose size equals the map's key or value size; structs go through ``TypedMap``.
/// For per-CPU maps a value is one slot per possible CPU, each padded to 8 bytes, as the kernel
/// returns it.
public final class BPFMap: @unchecked Sendable {  // immutable after init; the kernel serializes access
    public let fd: Int32
    /// The name libbpf knows it by (the ELF name) or the kernel's name for maps opened by pin or id.
    public let name: String
    public let info: MapInfo
    /// Keeps the libbpf object that owns `fd` open; nil when this map owns `fd` itself.
    private let owner: AnyObject?

    init(fd: Int32, name: String, owner: AnyObject?) throws {
        self.fd = fd
        self.owner = owner
        let info = try Self.readInfo(fd: fd, operation: "read info of map '\(name)'")
        self.info = info
        self.name = name
    }

    deinit {
        if owner == nil { close(fd) }
    }

    /// Opens a map pinned on a bpffs.
    public static func openPinned(_ path: String) throws -> BPFMap {
        let (fd, lines) = Libbpf.capturing { bpf_obj_get(path) }
        if fd < 0 { throw BPFError.fromErrno("open pinned map \(path)", code: fd, messages: lines) }
        do {
            let info = try readInfo(fd: fd, operation: "read info of pinned \(path)")
            return try BPFMap(fd: fd, name: info.name, owner: nil)
        } catch {
            close(fd)
            throw error
        }
    }

    private static func readInfo(fd: Int32, operation: String) throws -> MapInfo {
        var raw = bpf_map_info()
        var length = UInt32(MemoryLayout<bpf_map_info>.size)
        let code = bpf_obj_get_info_by_fd(fd, &raw, &length)
        if code < 0 { throw BPFError.fromErrno(operation, code: code) }
        let name = withUnsafeBytes(of: raw.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return MapInfo(id: raw.id, name: name, type: MapType(rawValue: raw.type), keySize: raw.key_size,
                       valueSize: raw.value_size, maxEntries: raw.max_entries, flags: raw.map_flags)
    }

    public var type: MapType { info.type }
    public var keySize: Int { Int(info.keySize) }
    public var valueSize: Int { Int(info.valueSize) }
    public var isPerCPU: Bool { info.type.isPerCPU }

    /// Bytes one value takes in the kernel's buffers: for per-CPU maps, every CPU's slot.
    public func valueBufferSize() throws -> Int {
        isPerCPU ? try possibleCPUCount() * perCPUStride : valueSize
    }

    /// Per-CPU slots are padded to 8 bytes.
    var perCPUStride: Int { (valueSize + 7) & ~7 }

    // MARK: Bytes

    /// The value under key, or nil when there is none.
    public func lookup(key: [UInt8]) throws -> [UInt8]? {
        try checkSize(key.count, keySize, "key", "lookup")
        var value = [UInt8](repeating: 0, count: try valueBufferSize())
        let code = bpf_map_lookup_elem(fd, key, &value)
        if code < 0 {
            if Glibc.errno == ENOENT || code == -ENOENT { return nil }
            throw BPFError.fromErrno("lookup in map '\(name)'", code: code)
        }
        return value
    }

    public func update(key: [UInt8], value: [UInt8], flags: MapUpdateFlags = .any) throws {
        try checkSize(key.count, keySize, "key", "update")
        try checkSize(value.count, try valueBufferSize(), "value", "update")
        let code = bpf_map_update_elem(fd, key, value, flags.rawValue)
        if code < 0 { throw BPFError.fromErrno("update map '\(name)'", code: code) }
    }

    /// Deletes key; returns false when it was not there.
    @discardableResult
    public func delete(key: [UInt8]) throws -> Bool {
        try checkSize(key.count, keySize, "key", "delete")
        let code = bpf_map_delete_elem(fd, key)
        if code < 0 {
            if code == -ENOENT || Glibc.errno == ENOENT { return false }
            throw BPFError.fromErrno("delete from map '\(name)'", code: code)
        }
        return true
    }

    /// Every key, in the kernel's iteration order. Keys deleted meanwhile may restart the walk,
    /// as with any `BPF_MAP_GET_NEXT_KEY` iteration.
    public func keys() throws -> [[UInt8]] {
        var keys: [[UInt8]] = []
        var next = [UInt8](repeating: 0, count: keySize)
        var code = bpf_map_get_next_key(fd, nil, &next)
        while code == 0 {
            keys.append(next)
            let current = next
            code = bpf_map_get_next_key(fd, current, &next)
        }
        if code != -ENOENT && Glibc.errno != ENOENT {
            throw BPFError.fromErrno("iterate map '\(name)'", code: code)
        }
        return keys
    }

    /// Every (key, value) pair, read one at a time.
    public func entries() throws -> [(key: [UInt8], value: [UInt8])] {
        try keys().compactMap { key in try lookup(key: key).map { (key, $0) } }
    }

    // MARK: Batches

    /// Every (key, value) pair through `BPF_MAP_LOOKUP_BATCH`, `chunk` entries per system call.
    /// Throws with errno EOPNOTSUPP or EINVAL on map types without batch support.
    public func lookupBatch(chunk: Int = 256) throws -> [(key: [UInt8], value: [UInt8])] {
        let valueBytes = try valueBufferSize()
        var result: [(key: [UInt8], value: [UInt8])] = []
        // The batch cursor is opaque; the kernel wants room for a key (at least 4 bytes for arrays).
        var inBatch = [UInt8](repeating: 0, count: max(keySize, 8))
        var outBatch = [UInt8](repeating: 0, count: max(keySize, 8))
        var first = true
        while true {
            var keys = [UInt8](repeating: 0, count: keySize * chunk)
            var values = [UInt8](repeating: 0, count: valueBytes * chunk)
            var count = UInt32(chunk)
            var opts = cbpf_bpf_map_batch_opts()
            let code: Int32 = first
                ? bpf_map_lookup_batch(fd, nil, &outBatch, &keys, &values, &count, &opts)
                : bpf_map_lookup_batch(fd, &inBatch, &outBatch, &keys, &values, &count, &opts)
            let done = code < 0 && (code == -ENOENT || Glibc.errno == ENOENT)
            if code < 0 && !done { throw BPFError.fromErrno("batch lookup in map '\(name)'", code: code) }
            for i in 0..<Int(count) {
                result.append((Array(keys[i * keySize..<(i + 1) * keySize]),
                               Array(values[i * valueBytes..<(i + 1) * valueBytes])))
            }
            if done { return result }
            inBatch = outBatch
            first = false
        }
    }

    /// Writes many entries in one `BPF_MAP_UPDATE_BATCH`.
    public func updateBatch(_ entries: [(key: [UInt8], value: [UInt8])], flags: MapUpdateFlags = .any) throws {
        guard !entries.isEmpty else { return }
        let valueBytes = try valueBufferSize()
        for entry in entries {
            try checkSize(entry.key.count, keySize, "key", "batch update")
            try checkSize(entry.value.count, valueBytes, "value", "batch update")
        }
        let keys = entries.flatMap(\.key)
        let values = entries.flatMap(\.value)
        var count = UInt32(entries.count)
        var opts = cbpf_bpf_map_batch_opts()
        opts.elem_flags = flags.rawValue
        let code = bpf_map_update_batch(fd, keys, values, &count, &opts)
        if code < 0 {
            throw BPFError.fromErrno("batch update of map '\(name)' (\(count) of \(entries.count) written)", code: code)
        }
    }

    /// Deletes many keys in one `BPF_MAP_DELETE_BATCH`.
    public func deleteBatch(_ keys: [[UInt8]]) throws {
        guard !keys.isEmpty else { return }
        for key in keys { try checkSize(key.count, keySize, "key", "batch delete") }
        var count = UInt32(keys.count)
        var opts = cbpf_bpf_map_batch_opts()
        let code = bpf_map_delete_batch(fd, keys.flatMap { $0 }, &count, &opts)
        if code < 0 {
            throw BPFError.fromErrno("batch delete from map '\(name)' (\(count) of \(keys.count) deleted)", code: code)
        }
    }

    // MARK: Integers

    // Integer keys and values by their bytes. Structs go through TypedMap: the map's BTF lays
    // them out, so no Swift struct mirrors a C layout by accident of its field order.

    public func lookup<Key: MapScalar, Value: MapScalar>(_ key: Key, as: Value.Type) throws -> Value? {
        try checkNotPerCPU("lookup")
        try checkSize(MemoryLayout<Value>.size, valueSize, "value type \(Value.self)", "lookup")
        return try lookup(key: Self.bytes(of: key)).map { Self.load(Value.self, from: $0, at: 0) }
    }

    public func update<Key: MapScalar, Value: MapScalar>(_ key: Key, _ value: Value,
                                                                     flags: MapUpdateFlags = .any) throws {
        try checkNotPerCPU("update")
        try update(key: Self.bytes(of: key), value: Self.bytes(of: value), flags: flags)
    }

    @discardableResult
    public func delete<Key: MapScalar>(_ key: Key) throws -> Bool {
        try delete(key: Self.bytes(of: key))
    }

    /// Every entry, typed.
    public func entries<Key: MapScalar, Value: MapScalar>(
        as: (Key.Type, Value.Type)
    ) throws -> [(key: Key, value: Value)] {
        try checkNotPerCPU("read entries")
        try checkSize(MemoryLayout<Key>.size, keySize, "key type \(Key.self)", "read entries")
        try checkSize(MemoryLayout<Value>.size, valueSize, "value type \(Value.self)", "read entries")
        return try entries().map { (Self.load(Key.self, from: $0.key, at: 0), Self.load(Value.self, from: $0.value, at: 0)) }
    }

    // MARK: Per-CPU

    /// One value per possible CPU, or nil when the key is missing.
    public func lookupPerCPU<Key: MapScalar, Value: MapScalar>(_ key: Key, as: Value.Type) throws -> [Value]? {
        try checkPerCPU("per-CPU lookup")
        try checkSize(MemoryLayout<Value>.size, valueSize, "value type \(Value.self)", "per-CPU lookup")
        guard let raw = try lookup(key: Self.bytes(of: key)) else { return nil }
        return (0..<(raw.count / perCPUStride)).map { Self.load(Value.self, from: raw, at: $0 * perCPUStride) }
    }

    /// The per-CPU values of key added up, or nil when the key is missing.
    public func lookupSum<Key: MapScalar, Value: MapScalar>(
        _ key: Key, as type: Value.Type
    ) throws -> Value? {
        try lookupPerCPU(key, as: type).map { $0.reduce(.zero, +) }
    }

    /// Sets each CPU's value; `values` has one element per possible CPU.
    public func updatePerCPU<Key: MapScalar, Value: MapScalar>(_ key: Key, _ values: [Value],
                                                                          flags: MapUpdateFlags = .any) throws {
        try checkPerCPU("per-CPU update")
        try checkSize(MemoryLayout<Value>.size, valueSize, "value type \(Value.self)", "per-CPU update")
        try checkSize(values.count, try possibleCPUCount(), "value list (one per possible CPU)", "per-CPU update")
        var raw = [UInt8](repeating: 0, count: values.count * perCPUStride)
        for (cpu, value) in values.enumerated() {
            let bytes = Self.bytes(of: value)
            raw.replaceSubrange(cpu * perCPUStride..<cpu * perCPUStride + bytes.count, with: bytes)
        }
        try update(key: Self.bytes(of: key), value: raw, flags: flags)
    }

    // MARK: Pins

    /// Pins the map on a bpffs, so it outlives this process.
    public func pin(at path: String) throws {
        let (code, lines) = Libbpf.capturing { bpf_obj_pin(fd, path) }
        if code < 0 { throw BPFError.fromErrno("pin map '\(name)' at \(path)", code: code, messages: lines) }
    }

    /// Removes a pin (the map lives on while something else holds it).
    public static func unpin(_ path: String) throws {
        if unlink(path) != 0 { throw BPFError.fromErrno("unpin \(path)") }
    }

    // MARK: Helpers

    /// An integer's bytes, as the kernel stores it (host byte order).
    public static func bytesOf<T: MapScalar>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value) { Array($0) }
    }

    static func bytes<T: MapScalar>(of value: T) -> [UInt8] { bytesOf(value) }

    static func load<T: BitwiseCopyable>(_: T.Type, from bytes: [UInt8], at offset: Int) -> T {
        bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
    }

    private func checkSize(_ actual: Int, _ expected: Int, _ what: String, _ operation: String) throws {
        if actual != expected {
            throw BPFError.invalid("\(operation) map '\(name)'", "\(what) is \(actual) bytes, the map needs \(expected)")
        }
    }

    private func checkPerCPU(_ operation: String) throws {
        if !isPerCPU {
            throw BPFError.invalid("\(operation) map '\(name)'", "the map is a \(type), not a per-CPU map")
        }
    }

    private func checkNotPerCPU(_ operation: String) throws {
        if isPerCPU {
            throw BPFError.invalid("\(operation) map '\(name)'",
                                   "the map is a \(type): use the per-CPU methods (lookupPerCPU, lookupSum, updatePerCPU)")
        }
    }
}

/// What BPFMap's integer API takes: a fixed-width integer, stored as its bytes.
public typealias MapScalar = FixedWidthInteger & BitwiseCopyable
