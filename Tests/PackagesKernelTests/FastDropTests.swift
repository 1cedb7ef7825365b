import BPFKit
import Foundation
import HikeRuntime
import HikeTestSupport
import HikeVM
import NetKit
import Testing

/// The fastdrop package by BPF_PROG_TEST_RUN: its loaders drop what the instance's list holds and
/// start their chain for the rest; fastdrop_match says the same to a chain. Expected outcomes are
/// worked out by hand here, or by a plain longest-prefix match over the list (Model).
@Suite(.serialized) struct FastDropTests {
    init() throws { try KernelTest.prepare() }

    static func udp(from source: String, to destination: String) -> [UInt8] {
        NATWire.frame(NATWire.packet(NATWire.udp, source, 1000, destination, 2000))
    }

    static func list(_ entries: [(String, Bool)]) throws -> FastDropList {
        FastDropList(try entries.map { FastDropList.Entry(prefix: try DestinationPrefix(parsing: $0.0), drop: $0.1) })
    }

    /// The longest listed prefix holding the address decides; none: not dropped.
    enum Model {
        static func bits(_ address: String) -> [UInt8] {
            var buffer = [UInt8](repeating: 0, count: 16)
            let v4 = !address.contains(":")
            _ = inet_pton(v4 ? AF_INET : AF_INET6, address, &buffer)
            return Array(buffer.prefix(v4 ? 4 : 16))
        }

        static func inside(_ address: [UInt8], _ prefix: String) -> Bool {
            let parts = prefix.split(separator: "/")
            let network = bits(String(parts[0])), length = Int(parts[1])!
            guard network.count == address.count else { return false }
            for bit in 0..<length where (address[bit / 8] >> (7 - UInt8(bit % 8))) & 1 != (network[bit / 8] >> (7 - UInt8(bit % 8))) & 1 {
                return false
            }
            return true
        }

        static func dropped(_ address: String, _ entries: [(String, Bool)]) -> Bool {
            let a = bits(address)
            let holding = entries.filter { inside(a, $0.0) }
            return holding.max { Int($0.0.split(separator: "/")[1])! < Int($1.0.split(separator: "/")[1])! }?.1 ?? false
        }
    }

    static let entries: [(String, Bool)] = [
        ("10.0.0.0/8", true), ("10.1.2.0/24", false),  // an exception inside a dropped /8
        ("172.16.9.128/25", true),                      // longer than /24: that /24 asks the trie
        ("192.0.2.7/32", true), ("2001:db8:bad::/48", true), ("2001:db8:bad:1::/64", false),
    ]

    /// What the loaders do with each source (fastdrop) or destination (fastdrop_dst).
    @Test func loadersDropListedAddressesAndStartTheChainForTheRest() throws {
        let test = try KernelTest.instance()
        let hike = test.instance
        try Self.list(Self.entries).apply(to: hike)
        try hike.loadProgram("hike_pass")
        let pass = Int32(try #require(try hike.registry().programs["hike_pass"]).id)
        let ids = try hike.symbols(addingChains: ["rest"])
        try hike.installChains([(name: "rest", id: try #require(ids["rest"]),
                                 instructions: [.mov64(.r1, imm: pass), .call(helper: ABI.fnCall), .exit], source: nil)])
        let bySource = try hike.detachedLoader("fastdrop", chain: "rest", defaultVerdict: ABI.xdpAborted)
        let byDestination = try hike.detachedLoader("fastdrop_dst", chain: "rest", defaultVerdict: ABI.xdpAborted)
        let cases: [(String, UInt32)] = [
            ("10.1.1.1", ABI.xdpDrop), ("10.255.0.1", ABI.xdpDrop), ("10.1.2.3", ABI.xdpPass),
            ("172.16.9.200", ABI.xdpDrop), ("172.16.9.5", ABI.xdpPass), ("192.0.2.7", ABI.xdpDrop), ("192.0.2.8", ABI.xdpPass),
            ("11.0.0.1", ABI.xdpPass), ("2001:db8:bad::1", ABI.xdpDrop), ("2001:db8:bad:1::1", ABI.xdpPass),
            ("2001:db8:600d::1", ABI.xdpPass),
        ]
        for (address, verdict) in cases {
            let other = address.contains(":") ? "2001:db8:ffff::1" : "198.51.100.1"
            let fromIt = try bySource.testRun(TestRunOptions(data: Self.udp(from: address, to: other)))
            #expect(fromIt.returnValue == verdict, "from \(address)")
            let toIt = try byDestination.testRun(TestRunOptions(data: Self.udp(from: other, to: address)))
            #expect(toIt.returnValue == verdict, "to \(address)")
        }
        let dropped = UInt64(cases.filter { $0.1 == ABI.xdpDrop }.count)
        let counters = try FastDropList.counters(hike)
        #expect(counters.dropped.packets == 2 * dropped)
        #expect(counters.passed.packets == 2 * (UInt64(cases.count) - dropped))
        #expect(try hike.faultCounts().isEmpty)
    }

    /// The IPv4 index, word by word, for /24s whose code follows from the list by hand.
    @Test func indexCodesFollowTheList() throws {
        let index = try Self.list(Self.entries).index()
        func code(_ address: String) -> UInt64 {
            let b = Model.bits(address)
            let slash24 = Int(b[0]) << 16 | Int(b[1]) << 8 | Int(b[2])
            return index[slash24 >> 5] >> UInt64(2 * (slash24 & 31)) & 3
        }
        #expect(code("10.1.1.0") == 1)     // inside 10/8: drop
        #expect(code("10.1.2.0") == 2)     // the exception
        #expect(code("172.16.9.0") == 0)   // a /25 inside: ask the trie
        #expect(code("192.0.2.0") == 0)    // a /32 inside
        #expect(code("8.8.8.0") == 2)      // nothing listed
        #expect(index.count == 1 << 19)
    }

    /// A random list (prefixes /8–/32, some exceptions) against random addresses, through
    /// fastdrop_match: the index and the trie together agree with a plain longest-prefix match.
    @Test func matchAgreesWithLongestPrefixOverRandomLists() throws {
        var seed = UInt64.random(in: 1...UInt64.max)
        print("FastDropTests random seed: \(seed)")
        func next() -> UInt64 {
            seed ^= seed << 13
            seed ^= seed >> 7
            seed ^= seed << 17
            return seed
        }
        func address(_ r: UInt64) -> String { "\(r >> 24 & 0x0f | 0x0a).\(r >> 16 & 0xff).\(r >> 8 & 0xff).\(r & 0xff)" }
        var entries: [(String, Bool)] = []
        for _ in 0..<300 {
            let length = Int(8 + next() % 25)
            let mask: UInt32 = length == 0 ? 0 : ~UInt32(0) << UInt32(32 - length)
            let raw = UInt32(truncatingIfNeeded: next()) & 0x0fff_ffff | 0x0a00_0000
            let network = raw & mask
            let text = "\(network >> 24).\(network >> 16 & 0xff).\(network >> 8 & 0xff).\(network & 0xff)/\(length)"
            if !entries.contains(where: { $0.0 == text }) { entries.append((text, next() % 4 != 0)) }
        }
        let runner = try NetPackageRunner(program: "fastdrop_match", arguments: [0], loader: "ip46_classifier")
        try Self.list(entries).apply(to: runner.hike)
        var listed = 0
        for _ in 0..<1500 {
            // Addresses near listed prefixes as often as not: the interesting ones.
            let r = next()
            let source = r % 2 == 0 ? address(r >> 8) : {
                let base = entries[Int((r >> 8) % UInt64(entries.count))].0.split(separator: "/")[0]
                let parts = base.split(separator: ".").map { Int($0)! }
                return "\(parts[0]).\(parts[1]).\(parts[2]).\(Int(r >> 40 & 0xff))"
            }()
            let expected = Model.dropped(source, entries)
            let (_, result) = try runner.run(Self.udp(from: source, to: "198.51.100.1"))
            #expect(result.r0 == (expected ? 1 : 0), "source \(source)")
            if expected { listed += 1 }
        }
        #expect(listed > 100 && listed < 1400)
    }

    /// `hike map update fastdrop_prefixes` changes the trie alone: an IPv4 /24 the index has as
    /// not listed stays so until `hike fastdrop sync` rewrites the index from the trie.
    @Test func syncRebuildsTheIndexFromTheTrie() throws {
        let runner = try NetPackageRunner(program: "fastdrop_match", arguments: [0], loader: "ip46_classifier")
        try Self.list([("10.0.0.0/8", true)]).apply(to: runner.hike)
        let trie = try runner.map("fastdrop", "fastdrop_prefixes")
        let codec = try MapJSON(map: trie)
        try trie.update(key: try codec.encodeKey(try MapJSONValue.parseArgument(#"{"prefixlen":120,"addr":"8.8.8.0"}"#)),
                        value: try codec.encodeValue(.int(1)))
        let packet = Self.udp(from: "8.8.8.8", to: "198.51.100.1")
        #expect(try runner.run(packet).result.r0 == 0)
        let synced = try FastDropList.sync(runner.hike)
        #expect(synced.entries.map(\.description) == ["10.0.0.0/8", "8.8.8.0/24"])
        #expect(try runner.run(packet).result.r0 == 1)
        #expect(try runner.run(Self.udp(from: "8.8.9.8", to: "198.51.100.1")).result.r0 == 0)
    }
}
