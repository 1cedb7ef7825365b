import ArgumentParser
import BPFKit
import Daemon
import Foundation
import HikeRPC
import HikeControl
import HikeRuntime
import HikeVM

/// `hike map …`: the maps an instance has pinned.
struct MapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "map",
        abstract: "List the maps pinned under an instance, dump their entries, update and delete them.",
        subcommands: [List.self, Dump.self, Update.self, Delete.self]
    )

    /// The map a command names, its warnings (unreadable BTF) printed.
    static func open(_ text: String, in dataPlane: DataPlane) throws -> PinnedMap {
        let pinned = try dataPlane.openMap(text)
        for warning in pinned.warnings { Terminal.warning(warning) }
        return pinned
    }

    /// Parses a KEY or VALUE argument, failing with the reason.
    static func argument(_ text: String, _ what: String) throws -> MapJSONValue {
        do {
            return try MapJSONValue.parseArgument(text)
        } catch {
            throw CommandLineError("\(what) '\(text)': \(error)")
        }
    }
}

extension MapCommand {
    struct List: NodeCommand {
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

        func operation() throws -> NodeOperation {
            .listMaps(.with {
                $0.target = instance.target(json: output.json)
            })
        }

        static func perform(_ request: Hike_V1_ListMapsRequest) throws {
            let output = JSONFlag(request.target.json), instance = request.target
            let hike = try instance.open()
            let rows = try DataPlane(instance: hike).pinnedMaps().map { relative in
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

    struct Dump: NodeCommand {
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

        func operation() throws -> NodeOperation {
            .dumpMap(.with {
                $0.target = instance.target(json: output.json)
                $0.map = path
            })
        }

        static func perform(_ request: Hike_V1_DumpMapRequest) throws {
            let instance = request.target
            let path = request.map
            let pinned = try MapCommand.open(path, in: DataPlane(instance: try instance.open()))
            let map = pinned.map, relative = pinned.relative, codec = pinned.codec
            if map.type == .ringbuf {
                throw CommandLineError("\(path) is a ring buffer: its records are read once, not looked up"
                    + (map.info.name == "hvm_events" ? "; read fault events with: hike faults --events" : ""))
            }
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

    struct Update: NodeCommand {
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

        func operation() throws -> NodeOperation {
            .updateMap(.with {
                $0.target = instance.target()
                $0.map = path
                $0.key = key
                $0.value = value
                $0.flags = flags.rawValue
            })
        }

        static func perform(_ request: Hike_V1_UpdateMapRequest) throws {
            let instance = request.target
            let path = request.map
            let key = request.key
            let value = request.value
            let flags = try UpdateFlag.parse(request.flags, default: .any, option: "--flags")
            let dataPlane = DataPlane(instance: try instance.open())
            let pinned = try MapCommand.open(path, in: dataPlane)
            let change = try dataPlane.updateMap(pinned, key: try MapCommand.argument(key, "key"), value: try MapCommand.argument(value, "value"),
                                                 flags: flags.flags)
            Terminal.line("updated \(change.relative): key \(change.key)")
        }
    }

    struct Delete: NodeCommand {
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

        func operation() throws -> NodeOperation {
            .deleteMapEntry(.with {
                $0.target = instance.target()
                $0.map = path
                $0.key = key
            })
        }

        static func perform(_ request: Hike_V1_DeleteMapEntryRequest) throws {
            let instance = request.target
            let path = request.map
            let key = request.key
            let dataPlane = DataPlane(instance: try instance.open())
            let pinned = try MapCommand.open(path, in: dataPlane)
            let change = try dataPlane.deleteMapEntry(pinned, key: try MapCommand.argument(key, "key"))
            Terminal.line("deleted key \(change.key) from \(change.relative)")
        }
    }
}
