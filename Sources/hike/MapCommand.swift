import ArgumentParser
import BPFKit
import CBPF
import Foundation
import HikeRuntime
import HikeVM

/// `hike map …`: the maps an instance has pinned.
struct MapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "map",
        abstract: "List the maps pinned under an instance, dump their entries, update and delete them.",
        subcommands: [List.self, Dump.self, Update.self, Delete.self]
    )

    /// Every pinned map under the instance's directory, by path relative to it (sorted).
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
        let fd = bpfObjectGet(path)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [CChar](repeating: 0, count: 256)
        let count = readlink("/proc/self/fd/\(fd)", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        let target = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return target.hasPrefix("anon_inode:") ? String(target.dropFirst("anon_inode:".count)) : target
    }

    /// `BPF_OBJ_GET` on a pin, whatever it holds (BPFKit opens pins only as a known kind).
    static func bpfObjectGet(_ path: String) -> Int32 {
        bpf_obj_get(path)
    }

    /// The pinned path for what the person typed: a path relative to the instance, an absolute
    /// path, or the unique pin whose path ends with it (`monitor_events`).
    static func resolve(_ text: String, root: String) throws -> String {
        if text.hasPrefix("/") { return text }
        if FileManager.default.fileExists(atPath: "\(root)/\(text)") { return "\(root)/\(text)" }
        let maps = pinnedMaps(under: root)
        if maps.contains(text) { return "\(root)/\(text)" }
        let matches = maps.filter { $0.hasSuffix("/" + text) }
        if matches.count == 1 { return "\(root)/\(matches[0])" }
        if matches.isEmpty {
            throw CommandLineError("no map '\(text)' pinned under \(root)" + (maps.isEmpty ? " (the instance has no maps: nothing is loaded)"
                                                                        : "; maps: " + maps.joined(separator: ", ")))
        }
        throw CommandLineError("'\(text)' is ambiguous: " + matches.joined(separator: ", ") + "; give the path")
    }

    /// The map pinned at what the person typed, checked to be a map.
    static func open(_ text: String, in hike: HikeInstance) throws -> (map: BPFMap, pin: String, relative: String) {
        let pin = try resolve(text, root: hike.pinRoot)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: pin, isDirectory: &isDirectory) else { throw CommandLineError("no pin \(pin)") }
        if isDirectory.boolValue {
            let inside = pinnedMaps(under: pin)
            throw CommandLineError("\(pin) is a directory" + (inside.isEmpty ? " without maps" : "; its maps: " + inside.joined(separator: ", ")))
        }
        if let kind = kind(ofPin: pin), kind != "bpf-map" {
            throw CommandLineError("\(pin) is a \(kind == "bpf-prog" ? "program" : kind == "bpf_link" ? "link" : kind), not a map (see hike map list)")
        }
        let map = try BPFMap.openPinned(pin)
        let relative = pin.hasPrefix(hike.pinRoot + "/") ? String(pin.dropFirst(hike.pinRoot.count + 1)) : pin
        return (map, pin, relative)
    }

    /// The JSON codecs for a map's keys and values (integers and hex when it has no BTF).
    static func codec(for map: BPFMap) throws -> MapJSON {
        let codec = try MapJSON(map: map)
        if let problem = codec.btfError {
            Terminal.warning("cannot read the BTF of map '\(map.info.name)' (\(problem)): keys and values are integers and hex")
        }
        return codec
    }

    /// Parses a KEY or VALUE argument, failing with the reason.
    static func argument(_ text: String, _ what: String) throws -> MapJSONValue {
        do {
            return try MapJSONValue.parseArgument(text)
        } catch {
            throw CommandLineError("\(what) '\(text)': \(error)")
        }
    }

    /// What the map's key and value look like, for error messages.
    static func shape(_ codec: MapJSON, _ map: BPFMap) -> String {
        let key = codec.btf.key?.cName ?? "\(map.keySize) bytes"
        let value = codec.btf.value?.cName ?? "\(map.valueSize) bytes"
        return "map '\(map.info.name)' has key \(key), value \(value)"
    }
}

extension MapCommand {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List every map pinned under /sys/fs/bpf/hike/INSTANCE."
        )

        @OptionGroup var instance: InstanceOptions
        @OptionGroup var output: JSONOption

        struct Row: Encodable {
            let path: String
            let name: String
            let type: String
            let keySize: UInt32
            let valueSize: UInt32
            let maxEntries: UInt32
            let perCPU: Bool
            let id: UInt32
        }

        func run() throws {
            let hike = try instance.open()
            let rows = try MapCommand.pinnedMaps(under: hike.pinRoot).map { relative in
                let map = try BPFMap.openPinned("\(hike.pinRoot)/\(relative)")
                return Row(path: relative, name: map.info.name, type: map.type.description, keySize: map.info.keySize,
                           valueSize: map.info.valueSize, maxEntries: map.info.maxEntries, perCPU: map.isPerCPU, id: map.info.id)
            }
            if output.json {
                Terminal.line(try Terminal.json(rows))
                return
            }
            if rows.isEmpty {
                Terminal.line("no maps pinned under \(hike.pinRoot): nothing is loaded in instance '\(hike.name)'")
                return
            }
            var table = TextTable(["PATH", "TYPE", "KEY", "VALUE", "MAX ENTRIES", "ID"], rightAligned: [2, 3, 4, 5])
            for row in rows {
                table.append([row.path, row.type, String(row.keySize), String(row.valueSize), String(row.maxEntries), String(row.id)])
            }
            Terminal.line("maps of instance '\(hike.name)' under \(hike.pinRoot) (sizes in bytes):")
            Terminal.line(table.render())
        }
    }

    struct Dump: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dump",
            abstract: "Print a pinned map's entries as JSON, typed from the map's BTF.",
            discussion: """
                Keys and values follow the C types the kernel keeps for the map (BTF): structs are \
                objects by member name, arrays lists, integers numbers (host byte order; __be16/32/64 \
                network order; beyond 2^53 decimal strings), _Bool true/false, enums their names, \
                char arrays strings. struct in6_addr and 16-byte unions or byte arrays named like \
                *addr* print as IPv6 text ("fc00::1"), struct in_addr and __be32 or 4-byte arrays \
                named *addr* as IPv4 text, 6-byte arrays named mac, h_dest, h_source, dmac, smac as \
                MAC text, other byte arrays as hex. Maps without BTF print 4- and 8-byte keys and \
                values as unsigned integers and others as hex. A per-CPU map gives each entry's \
                values as a list, one per possible CPU, and their sum (member by member) when they \
                are integers. What dump prints, hike map update takes back.
                """
        )

        @OptionGroup var instance: InstanceOptions
        @OptionGroup var output: JSONOption

        @Argument(help: "The map: its path relative to the instance (see hike map list), the end of it, or an absolute pin path.")
        var path: String

        func run() throws {
            let hike = try instance.open()
            let (map, _, relative) = try MapCommand.open(path, in: hike)
            if map.type == .ringbuf {
                throw CommandLineError("\(path) is a ring buffer: its records are read once, not looked up"
                    + (map.info.name == "hvm_events" ? "; read fault events with: hike faults --events" : ""))
            }
            let codec = try MapCommand.codec(for: map)
            let raw: [(key: [UInt8], value: [UInt8])]
            do {
                raw = try map.lookupBatch()
            } catch {
                raw = try map.entries()  // map types without batch operations
            }
            let entries = raw.map { entry -> MapJSONValue in
                let key = codec.decodeKey(entry.key)
                let values = codec.decodeValues(entry.value)
                guard map.isPerCPU else { return .object(["key": key, "value": values.first ?? .null]) }
                return .object(["key": key, "sum": MapJSONValue.sum(values) ?? .null, "values": .array(values)])
            }
            // Rendered here rather than by JSONEncoder: struct members keep their C order
            // (saddr before daddr); the other keys are sorted, as in hike's other JSON.
            let dump: MapJSONValue = .object([
                "entries": .array(entries),
                "id": .int(Int64(map.info.id)),
                "keySize": .int(Int64(map.info.keySize)),
                "keyType": codec.btf.key.map { .string($0.cName) } ?? .null,
                "maxEntries": .int(Int64(map.info.maxEntries)),
                "name": .string(map.info.name),
                "path": .string(relative),
                "perCPU": .bool(map.isPerCPU),
                "type": .string(map.type.description),
                "valueSize": .int(Int64(map.info.valueSize)),
                "valueType": codec.btf.value.map { .string($0.cName) } ?? .null,
            ])
            Terminal.line(dump.jsonText(pretty: true))
        }
    }

    /// `--flags any|noexist|exist`.
    enum UpdateFlag: String, ExpressibleByArgument, CaseIterable {
        case any, noexist, exist

        var flags: MapUpdateFlags {
            switch self {
            case .any: .any
            case .noexist: .noExist
            case .exist: .exist
            }
        }
    }

    /// Map types whose values are kernel objects (file descriptors in, IDs out), which other
    /// commands manage.
    static func checkPlainValues(_ map: BPFMap, _ path: String) throws {
        switch map.type {
        case .ringbuf:
            throw CommandLineError("\(path) is a ring buffer: it has no keys")
        case .progArray:
            throw CommandLineError("\(path) is a program array: its values are programs; load programs and chains with hike prog load and hike chain load")
        default:
            let name = map.type.description
            if name.contains("of_maps") || name.contains("sockmap") || name.contains("sockhash") || name.contains("xskmap")
                || name.contains("perf_event") || name.contains("cgroup_array") {
                throw CommandLineError("\(path) is a \(name) map: its values are kernel objects, not data hike map update can write")
            }
        }
    }

    struct Update: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "update",
            abstract: "Write one entry of a pinned map, key and value as JSON.",
            discussion: """
                KEY and VALUE are JSON in the form hike map dump prints, e.g. \
                hike map update ip6_hset_sd '{"saddr":"fc00::1","daddr":"fc00::2"}' '{"cts_ns":0,"timeout_ns":5000000000}'. \
                Text that is not JSON is a string, so an address needs no quotes: \
                hike map update tb_dst_cfg fc00::1 '{"rate":1000,"bucket_size":10}'. \
                Struct members left out are zero; integers may be decimal or "0x…" strings; any \
                struct, union or array may be given as a hex string of its exact size. For a \
                per-CPU map, VALUE is one value for every CPU or a list with one per possible CPU. \
                Put -- before a KEY or VALUE that starts with '-' (hike map update m -- -1 2).
                """
        )

        @OptionGroup var instance: InstanceOptions

        @Argument(help: "The map: its path relative to the instance (see hike map list), the end of it, or an absolute pin path.")
        var path: String

        @Argument(help: ArgumentHelp("The key as JSON.", valueName: "key"))
        var key: String

        @Argument(help: ArgumentHelp("The value as JSON.", valueName: "value"))
        var value: String

        @Option(name: .long, help: "any: create or replace; noexist: create only; exist: replace only.")
        var flags: UpdateFlag = .any

        func run() throws {
            let hike = try instance.open()
            let (map, _, relative) = try MapCommand.open(path, in: hike)
            try MapCommand.checkPlainValues(map, path)
            let codec = try MapCommand.codec(for: map)
            let keyJSON = try MapCommand.argument(key, "key")
            let valueJSON = try MapCommand.argument(value, "value")
            let keyBytes: [UInt8]
            let valueBytes: [UInt8]
            do {
                keyBytes = try codec.encodeKey(keyJSON)
                valueBytes = try codec.encodeValue(valueJSON)
            } catch {
                throw CommandLineError("\(error) (\(MapCommand.shape(codec, map)))")
            }
            do {
                try map.update(key: keyBytes, value: valueBytes, flags: flags.flags)
            } catch let error as BPFError where error.errno == EEXIST && flags == .noexist {
                throw CommandLineError("\(relative) already has key \(codec.decodeKey(keyBytes)) (--flags noexist)")
            } catch let error as BPFError where error.errno == ENOENT && flags == .exist {
                throw CommandLineError("\(relative) has no key \(codec.decodeKey(keyBytes)) (--flags exist)")
            } catch let error as BPFError where error.errno == E2BIG {
                if map.type.description.contains("array") {
                    throw CommandLineError("\(relative) is an array of \(map.info.maxEntries) entries: key \(codec.decodeKey(keyBytes)) is out of range (keys 0…\(Int(map.info.maxEntries) - 1))")
                }
                throw CommandLineError("\(relative) is full (\(map.info.maxEntries) entries): \(error)")
            }
            Terminal.line("updated \(relative): key \(codec.decodeKey(keyBytes))")
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "delete",
            abstract: "Delete one entry of a pinned map, the key as JSON.",
            discussion: "KEY is JSON in the form hike map dump prints (text that is not JSON is a string)."
        )

        @OptionGroup var instance: InstanceOptions

        @Argument(help: "The map: its path relative to the instance (see hike map list), the end of it, or an absolute pin path.")
        var path: String

        @Argument(help: ArgumentHelp("The key as JSON.", valueName: "key"))
        var key: String

        func run() throws {
            let hike = try instance.open()
            let (map, _, relative) = try MapCommand.open(path, in: hike)
            if map.type == .ringbuf { throw CommandLineError("\(path) is a ring buffer: it has no keys") }
            let codec = try MapCommand.codec(for: map)
            let keyJSON = try MapCommand.argument(key, "key")
            let keyBytes: [UInt8]
            do {
                keyBytes = try codec.encodeKey(keyJSON)
            } catch {
                throw CommandLineError("\(error) (\(MapCommand.shape(codec, map)))")
            }
            let deleted: Bool
            do {
                deleted = try map.delete(key: keyBytes)
            } catch let error as BPFError where error.errno == EINVAL && map.type.description.contains("array") {
                throw CommandLineError("\(relative) is an array: its entries cannot be deleted, only overwritten (hike map update)")
            }
            guard deleted else { throw CommandLineError("\(relative) has no key \(codec.decodeKey(keyBytes))") }
            Terminal.line("deleted key \(codec.decodeKey(keyBytes)) from \(relative)")
        }
    }
}
