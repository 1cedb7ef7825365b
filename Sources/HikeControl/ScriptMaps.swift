import BPFKit
import HikeErrors
import ECLAT
import HikeRuntime
import NetKit

/// The map entries a script writes when it loads: `program[map] = {…}` (a program's maps, the
/// nat package's rules) and the fastdrop loaders' prefix list (`fastdrop[fastdrop_prefixes]`).
/// A tuple fills the key's or value's struct members in order, as `hike map update` would with
/// a JSON object (members named pad… are skipped); a 'PREFIX/LEN' string fills a `prefixlen`
/// member and the address after it (an IPv4 prefix in a 16-byte address is IPv4-mapped, its
/// length + 96). Everything is encoded before anything is written.
struct ScriptMapWrites {
    struct Write {
        let map: BPFMap
        let name: String
        let key: [UInt8]
        let value: [UInt8]
        /// The value before, to put back on a failure (nil: there was none).
        let previous: [UInt8]?
    }

    var writes: [Write] = []
    var fastDrop: FastDropList?
    /// The instance's list before, when the script sets one.
    var previousFastDrop: FastDropList?

    /// Encodes every entry of the script's program maps (the programs are loaded: their maps
    /// are pinned) and collects the fastdrop list from its loaders' `_prefixes` maps.
    static func plan(_ script: CheckedScript, instance: HikeInstance, chainIDs: [String: UInt32]) throws(ControlError) -> ScriptMapWrites {
        var result = ScriptMapWrites()
        for use in script.compiled.programMaps {
            let at = "\(script.file):\(use.line)"
            try ControlError.wrapping {
                let entry = try instance.catalog.entry(use.program)
                let pin = "\(instance.pinRoot)/maps/\(HikeInstance.sharedMaps[use.map] ?? entry.object)/\(use.map)"
                let map = try BPFMap.openPinned(pin)
                let codec = try MapJSON(map: map)
                for item in use.entries {
                    do {
                        let key = try codec.encodeKey(try json(item.key, codec.btf.key, chains: chainIDs))
                        let value = try codec.encodeValue(try json(item.value, codec.btf.value, chains: chainIDs))
                        result.writes.append(Write(map: map, name: use.map, key: key, value: value, previous: try map.lookup(key: key)))
                    } catch {
                        throw ControlError.invalid("\(at): \(use.writtenName)[\(use.map)]: \(ControlError(error).message)",
                                                   code: "script.map", position: SourcePosition(file: script.file, line: use.line))
                    }
                }
            }
        }
        var prefixes: [DestinationPrefix: (drop: Bool, line: Int)] = [:]
        var order: [DestinationPrefix] = []
        for use in script.compiled.loaders {
            for map in use.maps where map.map == FastDropList.prefixesMap {
                for entry in map.entries {
                    let at = "\(script.file):\(map.line)"
                    guard entry.key.count == 1, case .string(let text) = entry.key[0], entry.value.count == 1,
                          case .integer(let drop) = entry.value[0], drop <= 1 else {
                        throw .invalid("\(at): \(use.writtenName)[\(map.map)] takes { ('PREFIX/LEN'): (1), … } (0: an exception inside a listed prefix)",
                                       code: "script.map", position: SourcePosition(file: script.file, line: map.line))
                    }
                    let prefix: DestinationPrefix
                    do { prefix = try DestinationPrefix(parsing: text) } catch {
                        throw .invalid("\(at): \(error.message)", code: "script.map", position: SourcePosition(file: script.file, line: map.line))
                    }
                    if let earlier = prefixes[prefix], earlier.drop != (drop == 1) {
                        throw .invalid("\(at): \(prefix) is listed with \(drop) here and \(earlier.drop ? 1 : 0) at line \(earlier.line)",
                                       code: "script.map", position: SourcePosition(file: script.file, line: map.line))
                    }
                    if prefixes[prefix] == nil { order.append(prefix) }
                    prefixes[prefix] = (drop == 1, map.line)
                }
            }
        }
        if !order.isEmpty {
            result.fastDrop = FastDropList(order.map { FastDropList.Entry(prefix: $0, drop: prefixes[$0]?.drop ?? true) })
            result.previousFastDrop = try ControlError.wrapping { try FastDropList.read(from: instance) }
        }
        return result
    }

    /// A tuple as the JSON of a key or value of type.
    static func json(_ items: [LoaderValue], _ type: BTFType?, chains: [String: UInt32]) throws(ControlError) -> MapJSONValue {
        func scalar(_ item: LoaderValue) throws(ControlError) -> MapJSONValue {
            switch item {
            case .integer(let value): return .uint(value)
            case .string(let text): return .string(text)
            case .chain(let name):
                guard let id = chains[name] else { throw .invalid("chain '\(name)' is not installed", code: "script.map") }
                return .uint(UInt64(id))
            }
        }
        guard let type, case .structure = type.kind else {
            guard items.count == 1 else { throw .invalid("\(items.count) values for one \(type?.description ?? "value")", code: "script.map") }
            return try scalar(items[0])
        }
        let members = type.members.filter { !$0.name.isEmpty && !$0.name.hasPrefix("pad") }
        var fields: [MapJSONValue.Field] = []
        var index = 0
        for item in items {
            guard index < members.count else {
                throw .invalid("\(items.count) values for \(type.description), which has \(members.count): "
                               + members.map(\.name).joined(separator: ", "), code: "script.map")
            }
            let member = members[index]
            if member.name == "prefixlen", case .string(let text) = item, text.contains("/"), index + 1 < members.count {
                let prefix: DestinationPrefix
                do { prefix = try DestinationPrefix(parsing: text) } catch { throw .invalid(error.message, code: "script.map") }
                let address = members[index + 1]
                switch prefix {
                case .v6(let network):
                    fields += [.init(member.name, .uint(UInt64(network.length))), .init(address.name, .string("\(network.address)"))]
                case .v4(let network):
                    let length = network.length + (address.type.size == 16 ? 96 : 0)
                    fields += [.init(member.name, .uint(UInt64(length))), .init(address.name, .string("\(network.address)"))]
                }
                index += 2
                continue
            }
            fields.append(.init(member.name, try scalar(item)))
            index += 1
        }
        return .object(fields)
    }

    /// Writes the entries and the fastdrop list. On a failure the caller calls `undo`.
    func apply(instance: HikeInstance) throws {
        for write in writes { try write.map.update(key: write.key, value: write.value) }
        try fastDrop?.apply(to: instance)
    }

    /// Puts back what `apply` may have written: each entry's previous value (or none) and the
    /// previous fastdrop list. Each step is tried; returns what could not be put back.
    func undo(instance: HikeInstance) -> [String] {
        var failures: [String] = []
        for write in writes.reversed() {
            do {
                if let previous = write.previous { try write.map.update(key: write.key, value: previous) } else { _ = try write.map.delete(key: write.key) }
            } catch {
                failures.append("restore an entry of \(write.name): \(error)")
            }
        }
        if let previousFastDrop {
            do { try previousFastDrop.apply(to: instance) } catch { failures.append("restore the fastdrop list: \(error)") }
        }
        return failures
    }

    /// Removes what a script wrote (for unload): its program-map keys, and the fastdrop list
    /// when the script set one.
    func remove(instance: HikeInstance) throws {
        for write in writes { _ = try write.map.delete(key: write.key) }
        if fastDrop != nil { try FastDropList().apply(to: instance) }
    }
}
