import CBPF
import Foundation

/// How to load an object: which maps to pin or to share with maps that already exist.
public struct ObjectOptions: Sendable {
    /// Map name → bpffs path. A map already pinned there (and compatible) is reused; otherwise
    /// the new map is pinned there after creation.
    public var pinnedMaps: [String: String]
    /// Map name → an existing map whose file descriptor the object uses instead of a new map.
    public var replacementMaps: [String: BPFMap]
    /// Size of the buffer for the verifier's log when a program is rejected.
    public var verifierLogSize: Int
    /// 0: the verifier's log only for rejected programs; 1 or 2: always, at that level.
    public var verifierLogLevel: UInt32

    public init(pinnedMaps: [String: String] = [:], replacementMaps: [String: BPFMap] = [:],
                verifierLogSize: Int = 4 << 20, verifierLogLevel: UInt32 = 0) {
        self.pinnedMaps = pinnedMaps
        self.replacementMaps = replacementMaps
        self.verifierLogSize = verifierLogSize
        self.verifierLogLevel = verifierLogLevel
    }
}

/// An object loaded into the kernel: its programs and maps, by name (cilium/ebpf's Collection).
///
/// The programs and maps stay valid while anything refers to them: each keeps its object alive.
/// Closing the object (dropping the last reference) releases the kernel objects unless they are
/// pinned or attached through a link.
public final class BPFObject: @unchecked Sendable {  // libbpf state is written only in init
    public let name: String
    public let programs: [String: BPFProgram]
    public let maps: [String: BPFMap]
    /// The verifier's log when `verifierLogLevel` asked for it.
    public let verifierLog: String
    private let owner: ObjectOwner

    public convenience init(bytes: [UInt8], name: String, options: ObjectOptions = .init()) throws {
        try self.init(spec: ObjectSpec(bytes: bytes, name: name), options: options)
    }

    public init(spec: ObjectSpec, options: ObjectOptions = .init()) throws {
        let log = UnsafeMutableBufferPointer<CChar>.allocate(capacity: max(options.verifierLogSize, 4096))
        log.initialize(repeating: 0)
        defer { log.deallocate() }

        let opened = try OpenedObject(spec: spec, logBuffer: log, logLevel: options.verifierLogLevel)
        var loaded = false
        defer { if !loaded { bpf_object__close(opened.pointer) } }

        let mapPointers = opened.maps
        let mapNames = Set(mapPointers.map { String(cString: bpf_map__name($0)) })
        for requested in Array(options.pinnedMaps.keys) + Array(options.replacementMaps.keys)
        where !mapNames.contains(requested) {
            throw BPFError.invalid("load object '\(spec.name)'",
                                   "it has no map '\(requested)' (maps: \(mapNames.sorted().joined(separator: ", ")))")
        }
        for map in mapPointers {
            let mapName = String(cString: bpf_map__name(map))
            if let path = options.pinnedMaps[mapName] {
                try Libbpf.check("pin map '\(mapName)' at \(path)") { bpf_map__set_pin_path(map, path) }
            }
            if let existing = options.replacementMaps[mapName] {
                try Libbpf.check("reuse map '\(existing.name)' for '\(mapName)'") { bpf_map__reuse_fd(map, existing.fd) }
            }
        }

        let (code, lines) = Libbpf.capturing { bpf_object__load(opened.pointer) }
        let logText = log.baseAddress.map { String(cString: $0) } ?? ""
        if code < 0 {
            throw BPFError(operation: "load object '\(spec.name)'", errno: -code,
                           message: lines.filter { !$0.contains("-- BEGIN PROG LOAD LOG --") }.joined(separator: "\n"),
                           verifierLog: logText.isEmpty ? nil : logText)
        }
        loaded = true
        self.name = spec.name
        self.verifierLog = logText
        var programs: [String: BPFProgram] = [:]
        var maps: [String: BPFMap] = [:]
        // Programs and maps refer back to self only through `owner`, set below.
        let owner = ObjectOwner()
        for program in opened.programs {
            let name = String(cString: bpf_program__name(program))
            programs[name] = BPFProgram(fd: bpf_program__fd(program), name: name,
                                        type: ProgramType(rawValue: bpf_program__type(program).rawValue),
                                        owner: owner)
        }
        for map in mapPointers {
            let name = String(cString: bpf_map__name(map))
            maps[name] = try BPFMap(fd: bpf_map__fd(map), name: name, owner: owner)
        }
        self.programs = programs
        self.maps = maps
        self.owner = owner
        owner.close = { [handle = opened.pointer] in bpf_object__close(handle) }
    }

    /// The program of that name, or an error listing the ones there are.
    public func program(_ name: String) throws -> BPFProgram {
        guard let program = programs[name] else {
            throw BPFError.invalid("find program '\(name)' in '\(self.name)'",
                                   "no such program (programs: \(programs.keys.sorted().joined(separator: ", ")))")
        }
        return program
    }

    /// The map of that name, or an error listing the ones there are.
    public func map(_ name: String) throws -> BPFMap {
        guard let map = maps[name] else {
            throw BPFError.invalid("find map '\(name)' in '\(self.name)'",
                                   "no such map (maps: \(maps.keys.sorted().joined(separator: ", ")))")
        }
        return map
    }
}

/// Closes a libbpf object when the object and every program and map taken from it are gone.
final class ObjectOwner: @unchecked Sendable {  // `close` is set once, right after init
    var close: (() -> Void)?
    deinit { close?() }
}
