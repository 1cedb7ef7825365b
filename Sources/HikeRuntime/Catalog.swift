import BPFKit
import BPFObjects
import HikeVM

/// What kind of entry point a catalog entry is.
public enum ProgramKind: String, Codable, Sendable {
    /// Called from chains through the program table.
    case program
    /// An XDP entry point that starts packets on chains.
    case loader
}

/// One argument of a program, as its EXPORT_HIKE_PROG_N declared it.
public struct ProgramArgument: Codable, Sendable, Hashable {
    /// The C type, e.g. `__u64`.
    public let type: String
    public let name: String
}

/// A map whose key 0 holds the ns to add to bpf_ktime_get_boot_ns() for wall-clock time.
public struct ClockMap: Codable, Sendable, Hashable {
    public enum Epoch: String, Codable, Sendable {
        /// Since 1900-01-01, as NTP and STAMP count.
        case ntp
        /// Since 1970-01-01.
        case unix
    }

    public let map: String
    public let epoch: Epoch
}

/// A program or loader as its object describes it (sections .hike.meta and .hike.facts).
public struct CatalogEntry: Codable, Sendable, Hashable {
    public let name: String
    public let package: String
    public let kind: ProgramKind
    /// User arguments (HVM_ARG2…), in order.
    public let arguments: [ProgramArgument]
    /// Always ends the chain with a verdict.
    public let isFinal: Bool
    /// Maps the program declared with EXPORT_HIKE_PROG_MAP.
    public let maps: [String]
    /// Maps holding a boot-time → wall-clock offset that hike keeps current (EXPORT_HIKE_CLOCK_MAP).
    public var clockMaps: [ClockMap] = []
    /// The embedded object it comes from.
    public let object: String
    /// What hike calls it (registry, `hike prog load`): the name, or `package.name` where another
    /// package exports the same name.
    public var key: String = ""
    /// The package whose program this one copies (EXPORT_HIKE_PROG_COPY_OF): that one keeps the
    /// plain name.
    public var copyOf: String?
    /// Its object has a tc twin (`<object>_tc`): it runs at the tc hooks too.
    public var runsAtTC = false

    /// The symbol chains may always call it by: `package.name`, which no chain name shadows.
    public var symbol: String { "\(package).\(name)" }
}

/// Every program and loader hike carries, read from the embedded objects' metadata: the C
/// source is the single source of truth.
public struct ProgramCatalog: Sendable {
    public let entries: [CatalogEntry]
    let objects: [String: EmbeddedObject]
    /// Object → its tc twin, compiled from the same source with -DHIKE_TC (no metadata of its own).
    let tcTwins: [String: EmbeddedObject]

    /// The catalog of the given objects (by default every object embedded in hike).
    public init(objects: [EmbeddedObject] = EmbeddedObjects.all) throws {
        var entries: [CatalogEntry] = []
        var byName: [String: EmbeddedObject] = [:]
        let all = Dictionary(objects.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var twins: [String: EmbeddedObject] = [:]
        for object in objects {
            let found = try Self.read(object)
            guard !found.isEmpty else { continue }
            byName[object.name] = object
            let twin = all[object.name + Self.tcSuffix]
            twins[object.name] = twin
            entries += found.map { entry in
                var entry = entry
                entry.runsAtTC = twin != nil
                return entry
            }
        }
        var seen: [String: String] = [:]
        for entry in entries {
            // Two packages may export one name (scripts say which package they mean); one package
            // may not export it twice.
            if let other = seen[entry.symbol] {
                throw RuntimeError.catalog("program '\(entry.symbol)' is exported by both \(other) and \(entry.object)")
            }
            seen[entry.symbol] = entry.object
        }
        // The plain name goes to the one package that exports it, copies aside.
        let counts = Dictionary(entries.filter { $0.copyOf == nil }.map { ($0.name, 1) }, uniquingKeysWith: +)
        for index in entries.indices {
            let shared = entries[index].copyOf != nil || counts[entries[index].name, default: 0] > 1
            entries[index].key = shared ? entries[index].symbol : entries[index].name
        }
        self.entries = entries.sorted { ($0.package, $0.name) < ($1.package, $1.name) }
        self.objects = byName
        self.tcTwins = twins
    }

    /// What the build appends to an object's name for its tc twin.
    static let tcSuffix = "_tc"

    /// The entry named `name`: its key, its symbol (`package.name`) or, where only one package
    /// exports it, its name.
    public func entry(_ name: String) throws -> CatalogEntry {
        if let entry = entries.first(where: { $0.key == name || $0.symbol == name }) { return entry }
        let named = entries.filter { $0.name == name }
        if named.count > 1 {
            throw RuntimeError.ambiguousProgram(name, candidates: named.map(\.symbol).joined(separator: ", "))
        }
        guard let entry = named.first else {
            let known = entries.map(\.key).joined(separator: ", ")
            throw RuntimeError.unknownProgram(name, known: known)
        }
        return entry
    }

    func object(_ name: String) throws -> EmbeddedObject {
        guard let object = objects[name] ?? tcTwins.values.first(where: { $0.name == name }) else {
            throw RuntimeError.catalog("no embedded object '\(name)'")
        }
        return object
    }

    /// The name of an object's tc twin, or nil when it runs at XDP only.
    func tcTwin(of object: String) -> String? { tcTwins[object]?.name }

    /// Reads the metadata records of one object.
    static func read(_ object: EmbeddedObject) throws -> [CatalogEntry] {
        let sections = try ELFSections(bytes: object.bytes)
        guard let meta = sections[".hike.meta"] else { return [] }
        let nameLength = Int(ABI.nameLength), typeLength = Int(ABI.argTypeLength), argLength = Int(ABI.argNameLength)
        let argsMax = Int(ABI.argsMax)
        let metaSize = 2 * nameLength + 8 + argsMax * (typeLength + argLength)
        let factSize = 2 * nameLength + 4
        guard meta.count % metaSize == 0 else {
            throw RuntimeError.catalog("\(object.name): .hike.meta is \(meta.count) bytes, not a multiple of \(metaSize): the object and hike disagree on the ABI")
        }
        var finals = Set<String>()
        var maps: [String: [String]] = [:]
        var clocks: [String: [ClockMap]] = [:]
        var copies: [String: String] = [:]
        let facts = sections[".hike.facts"] ?? []
        guard facts.count % factSize == 0 else {
            throw RuntimeError.catalog("\(object.name): .hike.facts is \(facts.count) bytes, not a multiple of \(factSize)")
        }
        for start in stride(from: 0, to: facts.count, by: factSize) {
            let record = Array(facts[start..<start + factSize])
            let program = cString(record, 0, nameLength)
            let kind = u32(record, nameLength)
            let value = cString(record, nameLength + 4, nameLength)
            if kind == ABI.factFinal { finals.insert(program) }
            if kind == ABI.factMap { maps[program, default: []].append(value) }
            if kind == ABI.factCopy { copies[program] = value }
            if kind == ABI.factClock {
                let parts = value.split(separator: ":").map(String.init)
                guard parts.count == 2, let epoch = ClockMap.Epoch(rawValue: parts[1]) else {
                    throw RuntimeError.catalog("\(object.name): clock map fact '\(value)' is not '<map>:ntp' or '<map>:unix'")
                }
                clocks[program, default: []].append(ClockMap(map: parts[0], epoch: epoch))
            }
        }
        var entries: [CatalogEntry] = []
        for start in stride(from: 0, to: meta.count, by: metaSize) {
            let record = Array(meta[start..<start + metaSize])
            let name = cString(record, 0, nameLength)
            let package = cString(record, nameLength, nameLength)
            let kind: ProgramKind = u32(record, 2 * nameLength) == ABI.metaLoader ? .loader : .program
            let count = min(Int(u32(record, 2 * nameLength + 4)), argsMax)
            let typesAt = 2 * nameLength + 8, namesAt = typesAt + argsMax * typeLength
            let arguments = (0..<count).map {
                ProgramArgument(type: cString(record, typesAt + $0 * typeLength, typeLength),
                                name: cString(record, namesAt + $0 * argLength, argLength))
            }
            var entry = CatalogEntry(name: name, package: package, kind: kind, arguments: arguments,
                                     isFinal: finals.contains(name), maps: maps[name] ?? [], object: object.name)
            entry.clockMaps = clocks[name] ?? []
            entry.copyOf = copies[name]
            entries.append(entry)
        }
        return entries
    }

    static func cString(_ bytes: [UInt8], _ at: Int, _ length: Int) -> String {
        let field = bytes[at..<at + length]
        return String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
    }

    static func u32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
    }
}
