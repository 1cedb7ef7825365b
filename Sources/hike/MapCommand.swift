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
        abstract: "List the maps pinned under an instance and dump their entries.",
        subcommands: [List.self, Dump.self]
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
            fail("no map '\(text)' pinned under \(root)" + (maps.isEmpty ? " (the instance has no maps: nothing is loaded)"
                                                                        : "; maps: " + maps.joined(separator: ", ")))
        }
        fail("'\(text)' is ambiguous: " + matches.joined(separator: ", ") + "; give the path")
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
            abstract: "Print a pinned map's entries as JSON.",
            discussion: """
                Keys and values 4 or 8 bytes wide print as unsigned integers (host byte order), others \
                as hex strings (bytes in memory order). A per-CPU map gives each entry's values as a \
                list, one per possible CPU, and their sum when they are integers.
                """
        )

        @OptionGroup var instance: InstanceOptions
        @OptionGroup var output: JSONOption

        @Argument(help: "The map: its path relative to the instance (see hike map list), the end of it, or an absolute pin path.")
        var path: String

        /// A key or value: an integer when 4 or 8 bytes wide, else hex.
        enum Value: Encodable {
            case integer(UInt64)
            case hex(String)

            init(_ bytes: [UInt8]) {
                switch bytes.count {
                case 4: self = .integer(UInt64(bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }))
                case 8: self = .integer(bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
                default: self = .hex(Format.hexBytes(bytes))
                }
            }

            var integer: UInt64? {
                if case .integer(let value) = self { return value }
                return nil
            }

            func encode(to encoder: Encoder) throws {
                var container = encoder.singleValueContainer()
                switch self {
                case .integer(let value): try container.encode(value)
                case .hex(let text): try container.encode(text)
                }
            }
        }

        struct Entry: Encodable {
            let key: Value
            let value: Value?
            let values: [Value]?
            let sum: Value?

            func encode(to encoder: Encoder) throws {
                enum Keys: String, CodingKey { case key, value, values, sum }
                var container = encoder.container(keyedBy: Keys.self)
                try container.encode(key, forKey: .key)
                if let values {
                    try container.encode(values, forKey: .values)
                    try container.encode(Nullable(sum), forKey: .sum)
                } else {
                    try container.encode(value, forKey: .value)
                }
            }
        }

        struct Dump: Encodable {
            let path: String
            let name: String
            let type: String
            let keySize: UInt32
            let valueSize: UInt32
            let maxEntries: UInt32
            let perCPU: Bool
            let id: UInt32
            let entries: [Entry]
        }

        func run() throws {
            let hike = try instance.open()
            let pin = try MapCommand.resolve(path, root: hike.pinRoot)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: pin, isDirectory: &isDirectory) else { fail("no pin \(pin)") }
            if isDirectory.boolValue {
                let inside = MapCommand.pinnedMaps(under: pin)
                fail("\(pin) is a directory" + (inside.isEmpty ? " without maps" : "; its maps: " + inside.joined(separator: ", ")))
            }
            if let kind = MapCommand.kind(ofPin: pin), kind != "bpf-map" {
                fail("\(pin) is a \(kind == "bpf-prog" ? "program" : kind == "bpf_link" ? "link" : kind), not a map (see hike map list)")
            }
            let map = try BPFMap.openPinned(pin)
            if map.type == .ringbuf {
                fail("\(path) is a ring buffer: its records are read once, not looked up"
                    + (map.info.name == "hvm_events" ? "; read fault events with: hike faults --events" : ""))
            }
            let raw: [(key: [UInt8], value: [UInt8])]
            do {
                raw = try map.lookupBatch()
            } catch {
                raw = try map.entries()  // map types without batch operations
            }
            let entries = raw.map { entry -> Entry in
                let key = Value(entry.key)
                guard map.isPerCPU else { return Entry(key: key, value: Value(entry.value), values: nil, sum: nil) }
                let stride = (map.valueSize + 7) & ~7
                let values = (0..<(entry.value.count / max(stride, 1))).map {
                    Value(Array(entry.value[$0 * stride..<$0 * stride + map.valueSize]))
                }
                let integers = values.compactMap(\.integer)
                let sum = integers.count == values.count ? Value.integer(integers.reduce(0, &+)) : nil
                return Entry(key: key, value: nil, values: values, sum: sum)
            }
            let relative = pin.hasPrefix(hike.pinRoot + "/") ? String(pin.dropFirst(hike.pinRoot.count + 1)) : pin
            Terminal.line(try Terminal.json(Dump(path: relative, name: map.info.name, type: map.type.description,
                                                 keySize: map.info.keySize, valueSize: map.info.valueSize,
                                                 maxEntries: map.info.maxEntries, perCPU: map.isPerCPU, id: map.info.id,
                                                 entries: entries)))
        }
    }
}
