import BPFKit
import NetKit

/// The fastdrop package's prefix list (bpf/include/hike/fastdrop.h): one per instance, shared by
/// its loaders (fastdrop, fastdrop_dst) and its program (fastdrop_match). The trie is the list;
/// the IPv4 index (2 bits per /24) is derived from it so that most IPv4 lookups are one array
/// read. An index of zeros (ASK everywhere) sends every IPv4 lookup to the trie, which is
/// always right: a list is written with the index zeroed first, then the trie, then the index.
public struct FastDropList: Sendable, Equatable {
    public struct Entry: Sendable, Equatable, CustomStringConvertible {
        public var prefix: DestinationPrefix
        /// false: an exception inside a shorter listed prefix (its addresses are not dropped).
        public var drop: Bool

        public init(prefix: DestinationPrefix, drop: Bool = true) {
            self.prefix = prefix
            self.drop = drop
        }

        public var description: String { "\(prefix)" + (drop ? "" : " (exception)") }
    }

    public var entries: [Entry]

    public init(_ entries: [Entry] = []) { self.entries = entries }

    public static let object = "fastdrop", program = "fastdrop_match"
    public static let prefixesMap = "fastdrop_prefixes", indexMap = "fastdrop_dir24", statsMap = "fastdrop_stats"
    public static let capacity = 1 << 18
    static let indexWords = 1 << 19
    /// 32 codes of DROP (1) or PASS (2) in one word.
    static let allDrop: UInt64 = 0x5555_5555_5555_5555, allPass: UInt64 = 0xaaaa_aaaa_aaaa_aaaa

    /// The trie key: prefix length and 16 bytes, IPv4 held IPv4-mapped (::ffff:a.b.c.d/96+n).
    static func key(_ prefix: DestinationPrefix) -> [UInt8] {
        switch prefix {
        case .v6(let network):
            return BPFMap.bytesOf(UInt32(network.length)) + network.address.bytes
        case .v4(let network):
            return BPFMap.bytesOf(UInt32(96 + network.length)) + [UInt8](repeating: 0, count: 10) + [0xff, 0xff] + network.address.bytes
        }
    }

    static func prefix(ofKey key: [UInt8]) -> DestinationPrefix? {
        guard key.count == 20 else { return nil }
        let length = Int(key[0]) | Int(key[1]) << 8 | Int(key[2]) << 16 | Int(key[3]) << 24
        let address = Array(key[4...])
        if length >= 96, address.prefix(12) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] {
            return try? DestinationPrefix(parsing: address.suffix(4).map(String.init).joined(separator: ".") + "/\(length - 96)")
        }
        guard let v6 = try? IPv6Address(bytes: address), let network = try? IPv6Network(address: v6, length: length) else { return nil }
        return .v6(network)
    }

    /// The IPv4 index: word i holds /24s 32i…32i+31, two bits each. Prefixes up to /24 fill
    /// their /24s, shortest first (so longer ones win); a /24 holding a longer prefix is ASK.
    public func index() -> [UInt64] {
        var words = [UInt64](repeating: Self.allPass, count: Self.indexWords)
        let v4 = entries.compactMap { entry -> (IPv4Network, Bool)? in
            if case .v4(let network) = entry.prefix { return (network, entry.drop) }
            return nil
        }
        func number(_ network: IPv4Network) -> Int { network.address.bytes.reduce(0) { $0 << 8 | Int($1) } >> 8 }
        func set(_ slash24: Int, _ code: UInt64) {
            let shift = UInt64(2 * (slash24 & 31))
            words[slash24 >> 5] = words[slash24 >> 5] & ~(3 << shift) | code << shift
        }
        for (network, drop) in v4.filter({ $0.0.length <= 24 }).sorted(by: { $0.0.length < $1.0.length }) {
            let first = number(network), count = 1 << (24 - network.length)
            if count >= 32 {
                for word in (first >> 5)..<((first + count) >> 5) { words[word] = drop ? Self.allDrop : Self.allPass }
            } else {
                for slash24 in first..<(first + count) { set(slash24, drop ? 1 : 2) }
            }
        }
        for (network, _) in v4 where network.length > 24 { set(number(network), 0) }
        return words
    }

    static func open(_ instance: HikeInstance, _ map: String) throws -> BPFMap {
        try BPFMap.openPinned("\(instance.pinRoot)/maps/\(object)/\(map)")
    }

    /// Loads the package (if not loaded yet): its maps are the instance's list.
    static func load(_ instance: HikeInstance) throws {
        try instance.loadProgram(program)
    }

    /// The list in the instance's trie.
    public static func read(from instance: HikeInstance) throws -> FastDropList {
        try load(instance)
        let trie = try open(instance, prefixesMap)
        var list = FastDropList()
        for (key, value) in try trie.entries() {
            guard let prefix = prefix(ofKey: key) else { continue }
            list.entries.append(Entry(prefix: prefix, drop: value.contains { $0 != 0 }))
        }
        list.entries.sort { $0.prefix < $1.prefix }
        return list
    }

    /// Makes the instance's list this one. Lookups stay right throughout: the index is zeroed
    /// (everything to the trie), the trie changed entry by entry, then the new index written.
    public func apply(to instance: HikeInstance) throws {
        try FastDropList.load(instance)
        var keys: Set<[UInt8]> = []
        for entry in entries { keys.insert(Self.key(entry.prefix)) }
        guard keys.count <= Self.capacity else {
            throw RuntimeError.listTooLong(count: keys.count, capacity: Self.capacity, map: Self.prefixesMap)
        }
        let trie = try Self.open(instance, Self.prefixesMap), index = try Self.open(instance, Self.indexMap)
        try Self.write(index: [UInt64](repeating: 0, count: Self.indexWords), to: index)
        for key in try trie.keys() where !keys.contains(key) { _ = try trie.delete(key: key) }
        for entry in entries { try trie.update(key: Self.key(entry.prefix), value: BPFMap.bytesOf(UInt32(entry.drop ? 1 : 0))) }
        try Self.write(index: self.index(), to: index)
    }

    /// Rewrites the index from the trie as it is (after `hike map update fastdrop_prefixes`).
    @discardableResult
    public static func sync(_ instance: HikeInstance) throws -> FastDropList {
        let list = try read(from: instance)
        try write(index: list.index(), to: open(instance, indexMap))
        return list
    }

    static func write(index words: [UInt64], to map: BPFMap) throws {
        let chunk = 1 << 16
        for start in stride(from: 0, to: words.count, by: chunk) {
            let end = min(start + chunk, words.count)
            try map.updateBatch((start..<end).map { (BPFMap.bytesOf(UInt32($0)), BPFMap.bytesOf(words[$0])) })
        }
    }

    /// Dropped, passed and not-IP packets (and bytes), summed over CPUs.
    public static func counters(_ instance: HikeInstance) throws -> (dropped: PacketCounter, passed: PacketCounter, notIP: PacketCounter) {
        try load(instance)
        let stats = try TypedMap<UInt32, PacketCounter>(open(instance, statsMap))
        func sum(_ slot: UInt32) throws -> PacketCounter { try stats.lookupSum(slot) ?? .zero }
        return (try sum(0), try sum(1), try sum(2))
    }
}
