import CBPF

/// A kernel program type (`enum bpf_prog_type`).
public struct ProgramType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let socketFilter = ProgramType(rawValue: BPF_PROG_TYPE_SOCKET_FILTER.rawValue)
    public static let schedCLS = ProgramType(rawValue: BPF_PROG_TYPE_SCHED_CLS.rawValue)
    public static let xdp = ProgramType(rawValue: BPF_PROG_TYPE_XDP.rawValue)
    public static let ext = ProgramType(rawValue: BPF_PROG_TYPE_EXT.rawValue)

    public var description: String {
        guard let name = libbpf_bpf_prog_type_str(bpf_prog_type(rawValue)) else { return "type \(rawValue)" }
        return String(cString: name)
    }
}

/// A kernel map type (`enum bpf_map_type`).
public struct MapType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let hash = MapType(rawValue: BPF_MAP_TYPE_HASH.rawValue)
    public static let array = MapType(rawValue: BPF_MAP_TYPE_ARRAY.rawValue)
    public static let progArray = MapType(rawValue: BPF_MAP_TYPE_PROG_ARRAY.rawValue)
    public static let percpuHash = MapType(rawValue: BPF_MAP_TYPE_PERCPU_HASH.rawValue)
    public static let percpuArray = MapType(rawValue: BPF_MAP_TYPE_PERCPU_ARRAY.rawValue)
    public static let lruHash = MapType(rawValue: BPF_MAP_TYPE_LRU_HASH.rawValue)
    public static let lruPercpuHash = MapType(rawValue: BPF_MAP_TYPE_LRU_PERCPU_HASH.rawValue)
    public static let lpmTrie = MapType(rawValue: BPF_MAP_TYPE_LPM_TRIE.rawValue)
    public static let devmap = MapType(rawValue: BPF_MAP_TYPE_DEVMAP.rawValue)
    public static let ringbuf = MapType(rawValue: BPF_MAP_TYPE_RINGBUF.rawValue)
    public static let percpuCgroupStorage = MapType(rawValue: BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE.rawValue)

    /// Per-CPU maps hold one value per possible CPU for each key.
    public var isPerCPU: Bool {
        [.percpuHash, .percpuArray, .lruPercpuHash, .percpuCgroupStorage].contains(self)
    }

    public var description: String {
        guard let name = libbpf_bpf_map_type_str(bpf_map_type(rawValue)) else { return "type \(rawValue)" }
        return String(cString: name)
    }
}

/// The number of CPUs the kernel may ever bring online: per-CPU values come in that many slots.
public func possibleCPUCount() throws -> Int {
    let count = libbpf_num_possible_cpus()
    if count < 0 { throw BPFError.fromErrno("count possible CPUs", code: count) }
    return Int(count)
}
