import BPFKit
import BPFObjects
import Foundation
import HikeControl
import HikeRuntime
import HikeVM

/// How long it took to load a program and what the kernel made of it.
public struct ProgramLoadStats: Codable, Sendable, Hashable {
    /// The program (or loader) measured.
    public let program: String
    /// The embedded object it comes from.
    public let object: String
    /// Programs the object holds (all are verified when it loads).
    public let programsInObject: Int
    /// Wall-clock time of loading the object (open, create or reuse maps, verify, JIT, pin).
    public let loadMilliseconds: Double
    /// bytes_xlated: the program after the verifier's rewrites (bpf_loop inlined, …).
    public let translatedBytes: UInt32
    /// bytes_jited: the machine code.
    public let jitedBytes: UInt32
    /// From a second load with BPF_LOG_STATS: instructions the verifier processed.
    public var verifiedInstructions: Int?
    /// From the same load: the verifier's own time.
    public var verificationMicroseconds: Int?
}

/// A HIKe instance of its own (`hike-bench-<pid>`) with the bench programs loaded and chains of
/// N noop calls installed. Call `reset()` when done (also on error).
public final class HikeBenchInstance: @unchecked Sendable {  // used from one thread
    public static let prefix = "hike-bench-"
    public let instance: HikeInstance
    public private(set) var stats: [ProgramLoadStats] = []
    private var loaders: [String: BPFProgram] = [:]

    public static func instanceName(pid: pid_t = getpid()) -> String { "\(prefix)\(pid)" }

    public init() throws {
        instance = try HikeInstance(name: Self.instanceName())
        do {
            // hike_default first: it creates and pins the VM's maps, so the bench object's
            // load time below is its own (it reuses them).
            stats.append(try timedLoad("hike_drop"))
            stats.append(try timedLoad("noop"))
        } catch {
            try? instance.reset()
            throw error
        }
    }

    private func timedLoad(_ program: String) throws -> ProgramLoadStats {
        let clock = ContinuousClock()
        let start = clock.now
        let record = try instance.loadProgram(program)
        let elapsed = clock.now - start
        let info = try BPFProgram.openPinned(record.pin).info()
        let programs = try instance.programs().filter { $0.object == record.object }.count
        return ProgramLoadStats(program: program, object: record.object, programsInObject: programs,
                                loadMilliseconds: elapsed.milliseconds, translatedBytes: info.translatedSize,
                                jitedBytes: info.jitedSize)
    }

    /// The ID of a loaded program.
    public func id(_ program: String) throws -> Int32 {
        guard let record = try instance.registry().programs[program] else {
            throw BenchError.chainFailed(what: "program \(program)", detail: "not loaded")
        }
        return Int32(record.id)
    }

    /// `N × (r1 = id(noop); call 0x14)`, then `r1 = id(hike_drop); call 0x14`.
    public func noopChain(calls: Int) throws -> [BPFInstruction] {
        let noop = try id("noop"), drop = try id("hike_drop")
        var instructions: [BPFInstruction] = []
        for _ in 0..<calls { instructions += [.mov64(.r1, imm: noop), .call(helper: ABI.fnCall)] }
        return instructions + [.mov64(.r1, imm: drop), .call(helper: ABI.fnCall)]
    }

    /// `count × (r2 += 1)`, then `r1 = id(hike_drop); call 0x14`: what one interpreted
    /// instruction costs, without program calls.
    public func aluChain(instructions count: Int) throws -> [BPFInstruction] {
        let drop = try id("hike_drop")
        return Array(repeating: .alu64(.add, dst: .r2, imm: 1), count: count) + [.mov64(.r1, imm: drop), .call(helper: ABI.fnCall)]
    }

    /// Installs the chains and loads a detached ip6_classifier for each. The loaders' default
    /// verdict is XDP_PASS, so a chain that faults or ends without hike_drop does not give
    /// XDP_DROP and the benchmark notices.
    public func install(_ chains: [(name: String, instructions: [BPFInstruction])]) throws {
        _ = try DataPlane(instance: instance).installChains(chains.map { AssembledChain(name: $0.name, instructions: $0.instructions) },
                                                            source: nil)
        let clock = ContinuousClock()
        for chain in chains {
            let start = clock.now
            let loader = try instance.detachedLoader("ip6_classifier", chain: chain.name, defaultVerdict: ABI.xdpPass)
            let elapsed = clock.now - start
            loaders[chain.name] = loader
            if !stats.contains(where: { $0.program == "ip6_classifier" }) {
                let info = try loader.info()
                let object = try instance.catalog.entry("ip6_classifier").object
                stats.append(ProgramLoadStats(program: "ip6_classifier", object: object, programsInObject: 1,
                                              loadMilliseconds: elapsed.milliseconds, translatedBytes: info.translatedSize,
                                              jitedBytes: info.jitedSize))
            }
        }
    }

    /// The detached loader running the chain of that name.
    public func loader(_ chain: String) throws -> BPFProgram {
        guard let loader = loaders[chain] else {
            throw BenchError.chainFailed(what: "chain \(chain)", detail: "not installed")
        }
        return loader
    }

    /// Runs the packet once through a chain and checks that it ended in its last program's
    /// XDP_DROP, without a fault, after the expected number of program calls.
    public func check(_ chain: String) throws {
        let before = try instance.lastResults()
        let run = try loader(chain).testRun(TestRunOptions(data: BenchFrame.bytes))
        guard run.returnValue == ABI.xdpDrop else {
            throw BenchError.wrongVerdict(what: "chain \(chain)", got: run.returnValue, expected: ABI.xdpDrop)
        }
        guard let result = try instance.resultAfter(before) else {
            throw BenchError.chainFailed(what: "chain \(chain)", detail: "the VM recorded no result")
        }
        guard result.fault == 0, result.verdict == ABI.xdpDrop else {
            throw BenchError.chainFailed(what: "chain \(chain)", detail: "fault \(result.fault), verdict \(result.verdict) at pc \(result.pc)")
        }
    }

    /// Loads the single-program objects of `program` again with BPF_LOG_STATS (sharing this
    /// instance's VM maps) and adds what the verifier reports to its stats.
    public func addVerifierStats(for programs: [String] = ["noop", "ip6_classifier"]) throws {
        for program in programs {
            guard let index = stats.firstIndex(where: { $0.program == program }) else { continue }
            let objectName = try instance.catalog.entry(program).object
            guard let embedded = EmbeddedObjects.named(objectName) else { throw BenchError.missingObject(objectName) }
            let spec = ObjectSpec(bytes: embedded.bytes, name: embedded.name)
            let maps = Set(try spec.contents().maps.map(\.name))
            let pins = Dictionary(uniqueKeysWithValues: HikeInstance.systemMaps.filter(maps.contains).map {
                ($0, "\(instance.pinRoot)/vm/\($0)")
            })
            let object = try BPFObject(spec: spec, options: ObjectOptions(pinnedMaps: pins, verifierLogLevel: 4))
            // One program per object: the log is that program's.
            guard object.programs.count == 1 else { continue }
            let parsed = VerifierLog(object.verifierLog)
            stats[index].verifiedInstructions = parsed.processedInstructions
            stats[index].verificationMicroseconds = parsed.verificationMicroseconds
        }
    }

    /// Detaches nothing (the loaders are attached nowhere); removes the instance's pins and registry.
    public func reset() throws {
        loaders.removeAll()
        try instance.reset()
    }

    /// Removes the instance of that name (for a signal handler); true when it is gone.
    @discardableResult
    public static func remove(named name: String) -> Bool {
        (try? HikeInstance(name: name).reset()) != nil
    }

    /// Removes bench instances whose process is gone (a benchmark killed with SIGKILL).
    public static func removeStale(bpffs: String = BPFFileSystem.defaultMountPoint) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "\(bpffs)/hike")) ?? []
        for name in names where name.hasPrefix(prefix) {
            guard let pid = pid_t(name.dropFirst(prefix.count)), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                try? HikeInstance(name: name).reset()
            }
        }
    }
}

/// The statistics BPF_LOG_STATS puts in the verifier's log.
struct VerifierLog {
    var processedInstructions: Int?
    var verificationMicroseconds: Int?

    init(_ text: String) {
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ")
            if line.hasPrefix("processed "), words.count > 1 { processedInstructions = Int(words[1]) }
            if line.hasPrefix("verification time "), words.count > 2 { verificationMicroseconds = Int(words[2]) }
        }
    }
}

extension Duration {
    var milliseconds: Double {
        Double(components.seconds) * 1e3 + Double(components.attoseconds) / 1e15
    }
}
