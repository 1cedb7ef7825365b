import Foundation
import BPFKit
import BPFTestObjects
import HikeTestSupport
import HikeRuntime
import NetKit
import SRv6
import Testing

/// srv6.h is the single source of truth: SRv6ABI's constants, and the entries the objects' BTF
/// lays out, must equal what the C compiler makes of the header (bpf/tests/srv6_abi_export.bpf.c).
@Suite struct SRv6ABIMirrorTests {
    func exported() throws -> [String: UInt64] {
        let section = try #require(try ELFSections(bytes: EmbeddedTestObjects.srv6AbiExport.bytes)[".hike.abi"])
        var constants: [String: UInt64] = [:]
        for start in stride(from: 0, to: section.count, by: 48) {
            let name = String(decoding: section[start..<start + 40].prefix { $0 != 0 }, as: UTF8.self)
            constants[name] = (0..<8).reduce(UInt64(0)) { $0 | UInt64(section[start + 40 + $1]) << UInt64(8 * $1) }
        }
        return constants
    }

    @Test func everyConstantEqualsTheHeader() throws {
        let c = try exported()
        let macros = c.filter { !$0.key.hasPrefix("sizeof") && !$0.key.hasPrefix("offsetof") && !$0.key.hasPrefix("row ") }
        #expect(macros.count == 50)
        for (name, value) in SRv6.SRv6ABI.constants.sorted(by: { $0.key < $1.key }) {
            #expect(c[name] == value, "\(name): Swift \(value), C \(c[name].map(String.init) ?? "not exported")")
        }
        #expect(Set(macros.keys) == Set(SRv6.SRv6ABI.constants.keys), "only on one side: \(Set(macros.keys).symmetricDifference(SRv6.SRv6ABI.constants.keys).sorted())")
    }

    /// Each Swift entry names every member of its C struct (a member added in C and not in
    /// Swift fails here), and the BTF the entries are laid out by has the C compiler's sizes.
    @Test func theEntriesMirrorEveryMemberOfTheirStructs() throws {
        let c = try exported()
        let zero = IPv6Address.zero
        let entries: [(String, any Encodable)] = [
            ("srv6_policy", SRv6PolicyEntry(mode: .encaps, segments: [zero], flags: 0, hopLimit: 0, tag: 0, source: zero)),
            ("srv6_sid", SRv6SIDEntry(behaviour: .end, flavours: [], table: 0, oif: 0, lblen: 0, nflen: 0, nh4: nil, nh6: nil)),
            ("srv6_stats", SRv6Stats.zero),
            ("srv6_lpm6_key", try IPv6Network(parsing: "fc00::/16").lpmKey),
            ("srv6_lpm4_key", try IPv4Network(parsing: "10.0.0.0/8").lpmKey),
            ("srv6_proxy_cache", SRv6ProxyCache.empty),
            ("srv6_proxy_stats", SRv6ProxyStats.zero),
        ]
        for (name, entry) in entries {
            let codec = try SRv6.SRv6ABI.codec(name)
            let size = c["sizeof(struct \(name))"]
            #expect(UInt64(codec.size) == size, "\(name): BTF \(codec.size) bytes, C \(size.map(String.init) ?? "not exported")")
            #expect(try BTFMirror.unshared(entry, try #require(codec.type)) == [], "\(name): members only one side has")
        }
    }

    /// The entries, laid out by BTF, put each field where the C compiler's offsets say.
    @Test func encodersWriteFieldsAtTheCOffsets() throws {
        let c = try exported()
        func at(_ name: String) throws -> Int { Int(try #require(c[name], "\(name) not exported")) }
        let nh6 = try IPv6Address(parsing: "fc00::6"), nh4 = try IPv4Address(parsing: "10.0.0.4")
        let sid = try SRv6SIDEntry(behaviour: .endDX4, flavours: [.usd], table: 0x0a0b, oif: 0x33, lblen: 32, nflen: 16, nh4: nh4, nh6: nh6,
                                         fallback: .none).encoded()
        #expect(sid.count == Int(try #require(c["sizeof(struct srv6_sid)"])))
        #expect(sid[try at("offsetof(srv6_sid, behaviour)")] == 6)
        #expect(sid[try at("offsetof(srv6_sid, flavours)")] == 4)
        #expect(sid[try at("offsetof(srv6_sid, table)")] == 0x0b)
        #expect(sid[try at("offsetof(srv6_sid, oif)")] == 0x33)
        #expect(sid[try at("offsetof(srv6_sid, lblen)")] == 32)
        #expect(sid[try at("offsetof(srv6_sid, nflen)")] == 16)
        #expect(sid[try at("offsetof(srv6_sid, fallback)")] == 1)
        let nh4At = try at("offsetof(srv6_sid, nh4)"), nh6At = try at("offsetof(srv6_sid, nh6)")
        #expect(Array(sid[nh4At..<nh4At + 4]) == nh4.bytes && Array(sid[nh6At..<nh6At + 16]) == nh6.bytes)

        let segments = [try IPv6Address(parsing: "fc00::a"), try IPv6Address(parsing: "fc00::b")]
        let source = try IPv6Address(parsing: "fc00::5")
        let policy = try SRv6PolicyEntry(mode: .insertRed, segments: segments, flags: 0x40, hopLimit: 9, tag: 0x0102, source: source,
                                               fallback: .none, pmFlow: 0x0102_0304).encoded()
        #expect(policy.count == Int(try #require(c["sizeof(struct srv6_policy)"])))
        #expect(policy[try at("offsetof(srv6_policy, mode)")] == 4)
        #expect(policy[try at("offsetof(srv6_policy, nsegs)")] == 2)
        #expect(policy[try at("offsetof(srv6_policy, flags)")] == 0x40)
        #expect(policy[try at("offsetof(srv6_policy, hop_limit)")] == 9)
        #expect(policy[try at("offsetof(srv6_policy, tag)")] == 0x02)
        #expect(policy[try at("offsetof(srv6_policy, fallback)")] == 1)
        let srcAt = try at("offsetof(srv6_policy, src)"), segsAt = try at("offsetof(srv6_policy, segments)")
        #expect(Array(policy[srcAt..<srcAt + 16]) == source.bytes)
        #expect(Array(policy[segsAt + 16..<segsAt + 32]) == segments[1].bytes)
        let pmAt = try at("offsetof(srv6_policy, pm_flow)")
        #expect(Array(policy[pmAt..<pmAt + 4]) == [0x04, 0x03, 0x02, 0x01])
        let key = try IPv6Network(parsing: "fc00::/16").lpmKey.encoded()
        #expect(key.count == Int(try #require(c["sizeof(struct srv6_lpm6_key)"])))
        #expect(Array(key[try at("offsetof(srv6_lpm6_key, addr)")...]) == (try IPv6Address(parsing: "fc00::")).bytes)
        #expect(try IPv4Network(parsing: "10.0.0.0/8").lpmKey.encoded().count == Int(try #require(c["sizeof(struct srv6_lpm4_key)"])))
    }

    /// The C dispatch's behaviour table (SRV6_BEHAVIOURS in srv6.h) and the Swift one agree: a
    /// row each, transit exactly where flavours apply (RFC 8986 §4.16), the SID's table looked
    /// up exactly where the row requires a table, its next hop exactly where it requires one.
    @Test func theCBehaviourTableMatchesTheSwiftOne() throws {
        let c = try exported()
        let rows = c.filter { $0.key.hasPrefix("row ") }
        #expect(rows.count == EndpointBehaviour.allCases.count)
        let names = ["End": "SRV6_END", "End.X": "SRV6_END_X", "End.T": "SRV6_END_T", "End.DX6": "SRV6_END_DX6",
                     "End.DX4": "SRV6_END_DX4", "End.DT6": "SRV6_END_DT6", "End.DT4": "SRV6_END_DT4", "End.DT46": "SRV6_END_DT46",
                     "End.AS": "SRV6_END_AS", "End.AM": "SRV6_END_AM", "End.AD": "SRV6_END_AD"]
        for behaviour in EndpointBehaviour.allCases {
            let macro = try #require(names[behaviour.name], "\(behaviour) has no srv6.h name here")
            #expect(c[macro] == UInt64(behaviour.rawValue), "\(behaviour)")
            let row = try #require(rows["row " + macro], "no C row for \(behaviour)")
            let (kind, inner, lookup) = (row >> 16, row >> 8 & 0xff, row & 0xff)
            let swift = behaviour.row
            #expect((kind == 1) == !swift.flavours.isEmpty, "\(behaviour): kind \(kind)")
            #expect((kind == 3) == behaviour.isProxy, "\(behaviour): kind \(kind)")
            if kind == 3 {
                // A proxy sends to its function (next hops, interface); End.AM carries IPv6 only.
                #expect(lookup == 2 && swift.required.contains(.interface), "\(behaviour): lookup \(lookup)")
                #expect(inner == (behaviour == .endAM ? 1 : 7), "\(behaviour): inner \(inner)")
                continue
            }
            #expect((lookup == 1) == swift.required.contains(.table), "\(behaviour): lookup \(lookup)")
            #expect((lookup == 2) == (swift.required.contains(.nextHop6) || swift.required.contains(.nextHop4)), "\(behaviour): lookup \(lookup)")
            if kind == 2 && lookup == 2 {
                #expect(inner == (swift.required.contains(.nextHop4) ? 2 : 1), "\(behaviour): inner \(inner)")
            }
        }
    }

    /// Every row of the behaviour table names a program the srv6 object exports.
    @Test func theBehaviourTablesProgramsAreTheSRv6Objects() throws {
        let catalog = try ProgramCatalog()
        for behaviour in EndpointBehaviour.allCases {
            let entry = try catalog.entry(behaviour.program)
            #expect(entry.object == "srv6" && entry.kind == .program, "\(behaviour): \(entry.object)")
        }
    }

}
