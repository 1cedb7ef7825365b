// What the original eCLAT accepted and hike now does too: tabs counted as the original counted
// them, docstrings, booleans, string constants, the reserved programs.hike, package paths that
// mean something (aliases, one name in two packages) and chains named like programs.

import Testing
import ECLAT
import HikeVM
import HikeVMTestSupport

@Suite struct OriginalForms {
    /// Packages as hike's catalog has them, with a program two packages export.
    static let catalog = ECLATCatalog(programs: [
        "hike_pass": .init(package: "hike_default", argumentCount: 0, isFinal: true),
        "hike_drop": .init(package: "hike_default", argumentCount: 0, isFinal: true),
        "monitor": .init(package: "hike_default", argumentCount: 1),
        "ip6_sd_tbmon": .init(package: "meter", argumentCount: 0),
        "udp_port": .init(package: "contribs", argumentCount: 1),
        "show_pkt_info": .init(package: "info", argumentCount: 2),
        "devel_encap.show_pkt_info": .init(package: "devel_encap", argumentCount: 2),
        "stamp": .init(package: "stamp", argumentCount: 0),
        "stamp_mono": .init(package: "stamp", argumentCount: 0),
    ], loaders: ECLATCatalog.standardLoaders)

    static func compile(_ source: String) throws -> CompiledScript {
        try ECLATCompiler.compile(source, file: "original.eclat", catalog: catalog)
    }

    static func errors(_ source: String) -> [String] {
        do throws(AssemblerError) {
            _ = try ECLATCompiler.compile(source, file: "original.eclat", catalog: catalog)
            return []
        } catch {
            return error.diagnostics.map { "\($0.line):\($0.column): \($0.message)" }
        }
    }

    @Test func aTabIsFourColumns() throws {
        // Two tabs, and a tab then four spaces, are one level: the original replaced each tab by
        // four spaces (with tab stops of eight the last line would match no level).
        let source = Support.header + "def main():\n\tu64 : x = 1\n\tif x:\n\t\tx = 2\n\t    x += 3\n\treturn x\n"
        #expect(try Support.run(source).r0 == 5)
    }

    @Test func docstringsAreNoCode() throws {
        let documented = Support.header + "\"\"\"A script.\"\"\"\ndef main():\n    '''Returns 3.'''\n    \"just text\"\n    return 3\n"
        #expect(try Support.run(documented).r0 == 3)
        let plain = try Support.compile(Support.header + "def main():\n    return 3\n")
        #expect(try Support.compile(documented).chains.first?.instructions == plain.chains.first?.instructions)
        #expect(Support.errors("def c():\n    x = '''open\n").map(\.message)
            == ["unterminated triple-quoted string (it must close on the line it opens, as in the original)"])
    }

    @Test func booleansAreOneAndZero() throws {
        #expect(try Support.value("return true + true") == 2)
        #expect(try Support.value("u8 : x = false\nif true and not false:\n    x = 9\nreturn x") == 9)
    }

    @Test func stringConstantsGoWhereStringsGo() throws {
        let script = try Self.compile("""
            from loaders.hike_default import ip6_sc
            DEV = 'veth3'
            MODE = \"\"\"xdpgeneric\"\"\"
            ip6_sc[ipv6_sc_map] = { (0): (c) }
            ip6_sc.attach(DEV, MODE)
            def c():
                NOTE = "chain-level strings are constants too"
                return 0

            """)
        #expect(script.loaders.first?.attachments.map(\.device) == ["veth3"])
        #expect(script.loaders.first?.attachments.map(\.mode) == ["generic"])
        #expect(Self.errors("DEV = 'x'\ndef c():\n    return DEV + 1\n") == ["3:12: 'DEV' is a constant, not a value"])
    }

    @Test func theReservedPackageHike() throws {
        let script = try Self.compile("from programs.hike import drop, Packet\ndef c():\n    if Packet.readU8(0) == 0:\n        drop()\n    return 1\n")
        #expect(script.programs == ["hike_default.hike_drop"])
        #expect(Self.errors("from programs.hike import drop\ndef c():\n    drop(1)\n") == ["3:5: program 'drop' takes 0 arguments, not 1"])
    }

    @Test func packagePathsBindThatPackagesProgram() throws {
        let info = try Self.compile("from programs.info import show_pkt_info\ndef c():\n    show_pkt_info(1, 2)\n")
        let devel = try Self.compile("from programs.devel_encap import show_pkt_info\ndef c():\n    show_pkt_info(1, 2)\n")
        #expect(info.programs == ["info.show_pkt_info"])
        #expect(devel.programs == ["devel_encap.show_pkt_info"])
        #expect(Self.errors("from programs.info import show_pkt_info\nfrom programs.devel_encap import show_pkt_info\n")
            == ["2:34: redefinition of 'show_pkt_info', already an imported program"])
        #expect(Self.errors("from programs.meter import monitor\n")
            == ["1:28: package 'meter' has no program 'monitor'; it is in 'hike_default': from programs.hike_default import monitor"])
        #expect(Self.errors("from programs.nowhere import monitor\ndef c():\n    monitor(1)\n")
            == ["1:15: unknown package 'nowhere'; the packages are basic, contribs, devel_encap, hike, hike_default, info, meter, mynet, net, stamp"])
    }

    @Test func theOriginalsLocalBundlesAreAliases() throws {
        // net: eclat-daemon's bundle of hike_default's programs; mynet: with meters and contribs;
        // basic: its loaders.
        let script = try Self.compile("""
            from programs.net import hike_pass, monitor
            from programs.mynet import ip6_sd_tbmon, udp_port
            from loaders.basic import ip6_sc
            ip6_sc[ipv6_sc_map] = { (0): (c) }
            def c():
                monitor(udp_port(666))
                ip6_sd_tbmon()
                hike_pass()

            """)
        #expect(Set(script.programs) == ["hike_default.hike_pass", "hike_default.monitor", "meter.ip6_sd_tbmon", "contribs.udp_port"])
        #expect(Self.errors("from programs.net import ip6_sd_tbmon\n")
            == ["1:26: package 'net' has no program 'ip6_sd_tbmon'; it is in 'meter': from programs.meter import ip6_sd_tbmon"])
    }

    @Test func aChainMayBeNamedLikeAProgramItDoesNotImport() throws {
        let script = try Self.compile("""
            from programs.stamp import stamp_mono
            from loaders.hike_default import ip6_udport862_classifier
            ip6_udport862_classifier[ip6_udport_cls_map] = { (0): (stamp) }
            def stamp():
                stamp_mono()

            """)
        #expect(script.chains.map(\.name) == ["stamp"])
        #expect(script.programs == ["stamp.stamp_mono"])
        #expect(script.loaders.first?.maps.first?.map == "ip6_udport_cls_cfg")
        #expect(script.loaders.first?.maps.first?.entries.first?.value == [.chain("stamp")])
        // Linked: the chain's own name is the chain; the program is reached by package.name.
        let linked = try script.link(programs: ["stamp.stamp_mono": 9, "stamp": 8], chainIDs: ["stamp": ABI.chainFlag | 1])
        #expect(linked.ids["stamp"] == ABI.chainFlag | 1)
        #expect(Self.errors("from programs.stamp import stamp\ndef stamp():\n    pass\n") == ["2:5: redefinition of 'stamp', already an imported program"])
    }
}
