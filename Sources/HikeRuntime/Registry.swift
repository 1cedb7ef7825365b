import Foundation

/// A loaded program: its ID in the program table and where it is pinned.
public struct ProgramRecord: Codable, Sendable, Hashable {
    public let name: String
    public let package: String
    public let id: UInt32
    public let object: String
    public let pin: String
}

/// An installed chain: its ID, the slot it runs from and its source, if it came from one.
public struct ChainRecord: Codable, Sendable, Hashable {
    public let name: String
    public let id: UInt32
    public var slot: UInt32
    public var instructionSlots: Int
    public var source: String?
    public var installedAt: Date
}

/// A loader attached to an interface.
public struct AttachmentRecord: Codable, Sendable, Hashable {
    public let loader: String
    /// The network namespace, or nil for the one hike runs in.
    public let namespace: String?
    public let interface: String
    public let mode: String
    /// The chain for all matching packets (ip6/ip46 classifiers) or nil (routes pick it).
    public var chain: String?
    public var defaultVerdict: UInt32
    /// Prefix → chain, for loaders that route by prefix.
    public var routes: [String: String]? = nil
    /// The bpffs directory with the loader's program, maps and link.
    public let directory: String

    public var place: String { "\(interface)" + (namespace.map { " in namespace \($0)" } ?? "") }

    /// The hook its mode names (XDP native when the record predates tc).
    public var hook: LoaderHook { LoaderHook(name: mode) ?? .xdp(.native) }
}

/// Names ↔ IDs and attachments of one instance, kept as JSON beside the pins so that another
/// hike process finds them. bpffs holds only kernel objects, so this file lives under /run.
public struct Registry: Codable, Sendable {
    public var programs: [String: ProgramRecord] = [:]
    /// Objects whose programs are loaded (by object name).
    public var objects: Set<String> = []
    /// Objects whose tc twins are loaded too; nil until a loader is attached at a tc hook.
    public var tcObjects: Set<String>?
    public var chains: [String: ChainRecord] = [:]
    public var attachments: [AttachmentRecord] = []
    /// The next chain number (its ID is HVM_CHAIN_FLAG | number).
    public var nextChainNumber: UInt32 = 1
    /// Slots freed by removals and replacements, oldest first: reused last, so a packet still
    /// running on an old version never sees its slot rewritten.
    public var freedSlots: [UInt32] = []

    public init() {}

    /// The name of the chain or program with this ID.
    public func name(of id: UInt32) -> String? {
        chains.values.first { $0.id == id }?.name ?? programs.values.first { $0.id == id }?.name
    }
}

/// The registry file, read and written under an exclusive lock so that concurrent hike
/// processes take turns.
struct RegistryFile {
    let path: String
    let lockPath: String

    init(directory: String) {
        path = directory + "/registry.json"
        lockPath = directory + "/lock"
    }

    func read() throws -> Registry {
        guard let data = FileManager.default.contents(atPath: path) else { return Registry() }
        do {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return try decoder.decode(Registry.self, from: data)
        } catch {
            throw RuntimeError.registry("cannot read \(path): \(error); `hike reset` starts over")
        }
    }

    /// Runs body on the registry under the lock; writes the result back only if body succeeded.
    func update<T>(_ body: (inout Registry) throws -> T) throws -> T {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw RuntimeError.registry("cannot open \(lockPath): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw RuntimeError.registry("cannot lock \(lockPath)") }
        defer { flock(fd, LOCK_UN) }
        var registry = try read()
        let result = try body(&registry)
        try write(registry)
        return result
    }

    private func write(_ registry: Registry) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(registry)
        // Write then rename: a reader never sees half a file.
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: data) else {
            throw RuntimeError.registry("cannot write \(temporary)")
        }
        guard rename(temporary, path) == 0 else {
            throw RuntimeError.registry("cannot replace \(path): \(String(cString: strerror(errno)))")
        }
    }
}
