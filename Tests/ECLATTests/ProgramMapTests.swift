// `program[map] = {…}` (a map of an imported program, written when the script loads) and the
// fastdrop loader's prefix list: what the compiler records, and what it refuses.

import ECLAT
import Foundation
import Testing

@Suite struct ProgramMapTests {
    static let catalog = ECLATCatalog(programs: [
        "nat": .init(package: "nat", argumentCount: 0, maps: ["nat_ct", "nat_snat", "nat_dnat", "nat_cfg", "nat_stats"]),
        "hike_pass": .init(package: "hike_default", argumentCount: 0, isFinal: true),
    ], loaders: ECLATCatalog.standardLoaders.merging(["fastdrop": .init(package: "fastdrop", maps: ["fastdrop_cfg", "fastdrop_prefixes"])]) { a, _ in a })

    static func compile(_ source: String) throws -> CompiledScript {
        try ECLATCompiler.compile(source, file: "t.eclat", catalog: catalog)
    }

    static func errors(_ source: String) -> [String] {
        do {
            _ = try ECLATCompiler.compile(source, file: "t.eclat", catalog: catalog)
            return []
        } catch {
            return error.diagnostics.map(\.message)
        }
    }

    static let header = """
        from programs.nat import nat
        from programs.hike_default import hike_pass
        def c():
            nat()
            hike_pass()
            return 0

        """

    /// The shipped example compiles against the catalog, its rules as written.
    @Test func theExampleRecordsItsRules() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/nat/nat.eclat")
        let script = try ECLATCompiler.compile(try String(contentsOf: url, encoding: .utf8), file: "nat.eclat",
                                               catalog: Self.catalog.merging(loaders: ECLATCatalog.standardLoaders),
                                               defines: ["INSIDE": "in0", "OUTSIDE": "out0"])
        #expect(script.programMaps.map(\.map) == ["nat_snat", "nat_dnat"])
        let snat = try #require(script.programMaps.first)
        #expect(snat.program == "nat" && snat.writtenName == "nat")
        #expect(snat.entries.first == LoaderMapEntry(key: [.string("10.0.1.0/24")], value: [.string("192.0.2.1"), .integer(20000), .integer(29999)]))
        let dnat = script.programMaps[1]
        #expect(dnat.entries.count == 6)
        // Constants read as their values (TCP = 6).
        #expect(dnat.entries.first?.key == [.string("192.0.2.1"), .integer(8080), .integer(6)])
    }

    @Test func programMapsAndPrefixListsAreRecorded() throws {
        let script = try Self.compile(Self.header + """
            nat[nat_cfg] = { (0): (60, 30, 10) }
            from loaders.fastdrop import fastdrop
            fastdrop[fastdrop_prefixes] = { ('10.0.0.0/8'): (1), ('10.1.0.0/16'): (0) }
            fastdrop[fastdrop_cfg] = { (0): (c) }
            fastdrop.attach('eth0', 'xdp')
            """)
        #expect(script.programMaps.count == 1)
        #expect(script.programMaps[0].entries == [LoaderMapEntry(key: [.integer(0)], value: [.integer(60), .integer(30), .integer(10)])])
        let loader = try #require(script.loaders.first)
        #expect(loader.maps.map(\.map) == ["fastdrop_prefixes", "fastdrop_cfg"])
        #expect(loader.maps[0].entries.map(\.key) == [[.string("10.0.0.0/8")], [.string("10.1.0.0/16")]])
    }

    @Test func mistakesAreReportedAtTheirLine() {
        #expect(Self.errors(Self.header + "nat[nat_rules] = { (1): (2) }\n").contains {
            $0.contains("program 'nat' has no map 'nat_rules'") && $0.contains("nat_snat")
        })
        #expect(Self.errors(Self.header + "hike_pass[x] = { (1): (2) }\n").contains {
            $0.contains("program 'hike_pass' has no map 'x'") && $0.contains("declares none")
        })
        #expect(Self.errors(Self.header + "nat[nat_cfg] = 5\n").contains { $0.contains("a program map takes") })
        #expect(Self.errors(Self.header + "meter[m] = { (1): (2) }\n").contains { $0.contains("'meter' is not an imported loader") })
    }
}

extension ECLATCatalog {
    func merging(loaders more: [String: Loader]) -> ECLATCatalog {
        ECLATCatalog(programs: programs, loaders: loaders.merging(more) { a, _ in a })
    }
}
