import BPFKit
import CBPF
import Foundation
import HikeErrors
import HikeRuntime

/// A map pinned under the instance, opened from what a person or a request calls it, with the
/// JSON codec of its keys and values.
public struct PinnedMap: Sendable {
    public let map: BPFMap
    public let pin: String
    /// The pin's path relative to the instance's directory (or the absolute pin outside it).
    public let relative: String
    public let codec: MapJSON
    /// What could not be read (the map's BTF): keys and values are then integers and hex.
    public let warnings: [String]

    /// What the map's key and value look like, for error messages.
    public var shape: String {
        let key = codec.btf.key?.cName ?? "\(map.keySize) bytes"
        let value = codec.btf.value?.cName ?? "\(map.valueSize) bytes"
        return "map '\(map.info.name)' has key \(key), value \(value)"
    }
}

/// One entry written or deleted, its key as the map's codec reads it back.
public struct MapEntryChange: Sendable {
    public let relative: String
    public let key: MapJSONValue
}

extension DataPlane {
    /// Every map pinned under the instance, by path relative to its directory (sorted).
    public func pinnedMaps() -> [String] {
        Self.pinnedMaps(under: instance.pinRoot)
    }

    static func pinnedMaps(under root: String) -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: root) else { return [] }
        var paths: [String] = []
        while let relative = enumerator.nextObject() as? String {
            var status = stat()
            let path = "\(root)/\(relative)"
            guard lstat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { continue }
            if kind(ofPin: path) == "bpf-map" { paths.append(relative) }
        }
        return paths.sorted()
    }

    /// What a pin holds: `bpf-map`, `bpf-prog`, `bpf_link`, … (the anonymous inode's name).
    static func kind(ofPin path: String) -> String? {
        let fd = bpf_obj_get(path)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [CChar](repeating: 0, count: 256)
        let count = readlink("/proc/self/fd/\(fd)", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        let target = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return target.hasPrefix("anon_inode:") ? String(target.dropFirst("anon_inode:".count)) : target
    }

    /// The map for a name: a path relative to the instance, an absolute pin path, or the end of
    /// exactly one pinned map's path (`monitor_events`).
    public func openMap(_ name: String) throws(ControlError) -> PinnedMap {
        let root = instance.pinRoot
        let pin: String
        if name.hasPrefix("/") || FileManager.default.fileExists(atPath: "\(root)/\(name)") {
            pin = name.hasPrefix("/") ? name : "\(root)/\(name)"
        } else {
            let maps = pinnedMaps()
            let matches = maps.contains(name) ? [name] : maps.filter { $0.hasSuffix("/" + name) }
            guard matches.count == 1 else {
                if matches.isEmpty {
                    throw .invalid("no map '\(name)' pinned under \(root)" + (maps.isEmpty ? " (the instance has no maps: nothing is loaded)"
                                                                                : "; maps: " + maps.joined(separator: ", ")), code: "map.unknown")
                }
                throw .invalid("'\(name)' is ambiguous: " + matches.joined(separator: ", ") + "; give the path", code: "map.ambiguous")
            }
            pin = "\(root)/\(matches[0])"
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: pin, isDirectory: &isDirectory) else { throw .invalid("no pin \(pin)", code: "map.unknown") }
        if isDirectory.boolValue {
            let inside = Self.pinnedMaps(under: pin)
            throw .invalid("\(pin) is a directory" + (inside.isEmpty ? " without maps" : "; its maps: " + inside.joined(separator: ", ")),
                           code: "map.unknown")
        }
        if let kind = Self.kind(ofPin: pin), kind != "bpf-map" {
            throw .invalid("\(pin) is a \(kind == "bpf-prog" ? "program" : kind == "bpf_link" ? "link" : kind), not a map (see hike map list)",
                           code: "map.not-a-map")
        }
        return try ControlError.wrapping {
            let map = try BPFMap.openPinned(pin)
            let codec = try MapJSON(map: map)
            let warnings = codec.btfError.map { ["cannot read the BTF of map '\(map.info.name)' (\($0)): keys and values are integers and hex"] } ?? []
            let relative = pin.hasPrefix(root + "/") ? String(pin.dropFirst(root.count + 1)) : pin
            return PinnedMap(map: map, pin: pin, relative: relative, codec: codec, warnings: warnings)
        }
    }

    /// Writes one entry, key and value in the JSON forms `hike map dump` prints. Map types whose
    /// values are kernel objects (programs, maps, sockets) are refused: other calls manage them.
    public func updateMap(_ pinned: PinnedMap, key: MapJSONValue, value: MapJSONValue,
                          flags: MapUpdateFlags = .any) throws(ControlError) -> MapEntryChange {
        let map = pinned.map, relative = pinned.relative, codec = pinned.codec
        switch map.type {
        case .ringbuf:
            throw .invalid("\(relative) is a ring buffer: it has no keys", code: "map.no-keys")
        case .progArray:
            throw .invalid("\(relative) is a program array: its values are programs; load programs and chains with hike prog load and hike chain load",
                           code: "map.kernel-objects")
        default:
            let name = map.type.description
            if name.contains("of_maps") || name.contains("sockmap") || name.contains("sockhash") || name.contains("xskmap")
                || name.contains("perf_event") || name.contains("cgroup_array") {
                throw .invalid("\(relative) is a \(name) map: its values are kernel objects, not data hike map update can write",
                               code: "map.kernel-objects")
            }
        }
        let keyBytes: [UInt8], valueBytes: [UInt8]
        do {
            keyBytes = try codec.encodeKey(key)
            valueBytes = try codec.encodeValue(value)
        } catch {
            throw .invalid("\(error) (\(pinned.shape))", code: "map.value")
        }
        do {
            try map.update(key: keyBytes, value: valueBytes, flags: flags)
        } catch let error as BPFError where error.errno == EEXIST && flags == .noExist {
            throw .invalid("\(relative) already has key \(codec.decodeKey(keyBytes)) (--flags noexist)", code: "map.exists")
        } catch let error as BPFError where error.errno == ENOENT && flags == .exist {
            throw .invalid("\(relative) has no key \(codec.decodeKey(keyBytes)) (--flags exist)", code: "map.no-key")
        } catch let error as BPFError where error.errno == E2BIG {
            if map.type.description.contains("array") {
                throw .invalid("\(relative) is an array of \(map.info.maxEntries) entries: key \(codec.decodeKey(keyBytes)) is out of range "
                               + "(keys 0…\(Int(map.info.maxEntries) - 1))", code: "map.no-key")
            }
            throw .invalid("\(relative) is full (\(map.info.maxEntries) entries): \(error)", code: "map.full")
        } catch {
            throw ControlError(error)
        }
        return MapEntryChange(relative: relative, key: codec.decodeKey(keyBytes))
    }

    /// Deletes one entry; an array's entries cannot be deleted, only overwritten.
    public func deleteMapEntry(_ pinned: PinnedMap, key: MapJSONValue) throws(ControlError) -> MapEntryChange {
        let map = pinned.map, relative = pinned.relative, codec = pinned.codec
        if map.type == .ringbuf { throw .invalid("\(relative) is a ring buffer: it has no keys", code: "map.no-keys") }
        let keyBytes: [UInt8]
        do {
            keyBytes = try codec.encodeKey(key)
        } catch {
            throw .invalid("\(error) (\(pinned.shape))", code: "map.value")
        }
        let deleted: Bool
        do {
            deleted = try map.delete(key: keyBytes)
        } catch let error as BPFError where error.errno == EINVAL && map.type.description.contains("array") {
            throw .invalid("\(relative) is an array: its entries cannot be deleted, only overwritten (hike map update)", code: "map.array")
        } catch {
            throw ControlError(error)
        }
        guard deleted else { throw .invalid("\(relative) has no key \(codec.decodeKey(keyBytes))", code: "map.no-key") }
        return MapEntryChange(relative: relative, key: codec.decodeKey(keyBytes))
    }
}
