// The thesis' DDoS script (examples/ddos/ddos.eclat) compiles against a hand-made catalog with
// the programs' arities, and every path of it runs as expected on the reference interpreter with
// models of the programs.

import Foundation
import Testing
import ECLAT
import HikeVM
import HikeVMTestSupport

@Suite struct DDoSScript {
    static let catalog = ECLATCatalog(programs: [
        "ip6_hset_srcdst": .init(package: "hike_default", argumentCount: 1),
        "ip6_sd_tbmon": .init(package: "meter", argumentCount: 0),
        "ip6_dst_tbmon": .init(package: "meter", argumentCount: 0),
        "ip6_sd_dec2zero": .init(package: "sampler", argumentCount: 1),
        "l2_redirect": .init(package: "hike_default", argumentCount: 1),
        "monitor": .init(package: "hike_default", argumentCount: 1),
        "hike_drop": .init(package: "hike_default", argumentCount: 0, isFinal: true),
        "hike_pass": .init(package: "hike_default", argumentCount: 0, isFinal: true),
    ], loaders: ECLATCatalog.standardLoaders)

    static let ids: [String: UInt32] = [
        "hike_pass": 1, "hike_drop": 2, "monitor": 3, "ip6_hset_srcdst": 4, "ip6_sd_tbmon": 5,
        "ip6_dst_tbmon": 6, "ip6_sd_dec2zero": 7, "l2_redirect": 8,
    ]

    /// The IDs by the symbols compiled chains call programs by (`package.name`).
    static let symbols = Dictionary(uniqueKeysWithValues: ids.map { (catalog.symbol(ofKey: $0.key), $0.value) })

    static var source: String {
        get throws {
            let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("examples/ddos/ddos.eclat")
            return try String(contentsOf: url, encoding: .utf8)
        }
    }

    static func compile() throws -> CompiledScript {
        try ECLATCompiler.compile(try source, file: "ddos.eclat", catalog: catalog, defines: ["DEVNAME": "veth0"])
    }

    /// hike carries the script (hike bench compile, hike bench run ddos): it must be the file.
    @Test func builtInCopyIsTheExampleFile() throws {
        #expect(ECLATExamples.ddos == (try Self.source))
    }

    @Test func compiles() throws {
        let script = try Self.compile()
        #expect(script.chains.map(\.name) == ["ddos_tb_2_lev"])
        #expect(Set(script.programs) == Set(Self.symbols.keys))
        let loader = try #require(script.loaders.first)
        #expect(loader.loader == "ip6_classifier")
        #expect(loader.maps == [LoaderMapConfiguration(map: "ip6_cls_cfg", entries: [LoaderMapEntry(key: [.integer(0)], value: [.chain("ddos_tb_2_lev")])], line: 12)])
        #expect(loader.attachments.map(\.device) == ["veth0"])
        #expect(loader.attachments.map(\.mode) == ["native"])
        let linked = try script.link(programs: Self.symbols)
        let id = try #require(linked.ids["ddos_tb_2_lev"])
        let instructions = try #require(linked.chains[id])
        var names: [UInt32: String] = [:]
        for (name, value) in Self.symbols.merging(linked.ids, uniquingKeysWith: { a, _ in a }) { names[value] = name }
        try ChainChecker(knownIDs: Set(names.keys), names: names, finalIDs: [1, 2]).check(instructions)
        let text = ChainDisassembler(symbols: names).text(chain: "ddos_tb_2_lev", instructions)
        #expect(text.contains("call hike_default.ip6_hset_srcdst"))
        // The listing assembles back to the same instructions.
        let again = try ChainAssembler.assemble(text).link(programs: Self.symbols, chainIDs: linked.ids)
        #expect(again.chains[id] == instructions)
    }

    /// Runs the chain with program models: hset answers `blacklisted`, the meters answer
    /// `dstOut`/`sdOut`, the sampler `sample`. Monitor events and hset arguments go to shared memory.
    func run(blacklisted: Bool, sample: UInt64 = 1, dstOut: Bool = false, sdOut: Bool = false) throws -> InterpreterResult {
        let script = try Self.compile()
        let linked = try script.link(programs: Self.symbols)
        let models: [String: any ProgramModel] = [
            "hike_pass": ReferencePrograms.hikePass, "hike_drop": ReferencePrograms.hikeDrop,
            "monitor": ClosureProgram { _, args, _, shmem in shmem[0] = UInt8(truncatingIfNeeded: args.r2) + 1; return .continueChain(0) },
            "ip6_hset_srcdst": ClosureProgram { _, args, _, shmem in
                shmem[8 + Int(args.r2 & 3)] += 1
                return .continueChain(blacklisted ? 0 : 1)
            },
            "ip6_sd_tbmon": ClosureProgram { _, _, _, _ in .continueChain(sdOut ? UInt64.max : 0) },
            "ip6_dst_tbmon": ClosureProgram { _, _, _, _ in .continueChain(dstOut ? UInt64.max : 0) },
            "ip6_sd_dec2zero": ClosureProgram { _, args, _, shmem in shmem[16] = UInt8(truncatingIfNeeded: args.r2); return .continueChain(sample) },
            "l2_redirect": ClosureProgram { _, args, _, _ in .verdict(args.r2 == 6 ? ABI.xdpRedirect : ABI.xdpAborted) },
        ]
        var table: [UInt32: any ProgramModel] = [:]
        for (name, model) in models { if let id = Self.ids[name] { table[id] = model } }
        let root = try #require(linked.ids["ddos_tb_2_lev"])
        return Interpreter(chains: linked.chains, programs: table).run(rootChain: root, packet: Array(repeating: 0, count: 64))
    }

    @Test func paths() throws {
        // Blacklisted, sampled: monitor(REDIRECT), redirect to ifindex 6.
        var result = try run(blacklisted: true, sample: 0)
        #expect(result.verdict == ABI.xdpRedirect)
        #expect(result.sharedMemory[0] == 2 + 1)
        #expect(result.sharedMemory[16] == UInt8(500 & 0xff))
        // Blacklisted, not sampled: monitor(DROP), drop.
        result = try run(blacklisted: true, sample: 3)
        #expect(result.verdict == ABI.xdpDrop)
        #expect(result.sharedMemory[0] == 1 + 1)
        // In profile: monitor(PASS), pass; one LOOKUP (2).
        result = try run(blacklisted: false)
        #expect(result.verdict == ABI.xdpPass)
        #expect(result.sharedMemory[0] == 0 + 1)
        #expect(result.sharedMemory[8 + 2] == 1)
        // Destination over its rate but the pair within: pass.
        result = try run(blacklisted: false, dstOut: true)
        #expect(result.verdict == ABI.xdpPass)
        // Both over: blacklist (ADD = 1), monitor(DROP), drop.
        result = try run(blacklisted: false, dstOut: true, sdOut: true)
        #expect(result.verdict == ABI.xdpDrop)
        #expect(result.sharedMemory[8 + 1] == 1)
        #expect(result.sharedMemory[0] == 1 + 1)
        #expect(result.fault == .none)
    }
}
