import BPFKit
import Foundation
import BPFObjects
import BPFTestObjects
import HikeRuntime
import HikeTestSupport
import HikeVM
import Testing

/// Runs crafted packets through detached ip6_classifiers whose chains each call one program
/// with constant arguments and then hike_pass (a final program alone). All chains share one
/// instance, so they share the programs' maps.
struct NetPackageRunner {
    struct Call {
        let chain: String
        let program: String
        var arguments: [Int32] = []
        var final = false
    }

    let test: TestInstance
    var hike: HikeInstance { test.instance }
    let loaders: [String: BPFProgram]

    init(program: String, arguments: [Int32] = [], final: Bool = false, loader: String = "ip6_classifier") throws {
        try self.init([Call(chain: "under_test", program: program, arguments: arguments, final: final)], loader: loader)
    }

    /// Each call's chain: `r1 = program; r2.. = arguments; call; r1 = hike_pass; call`.
    /// ip46_classifier as the loader also runs the chains on IPv4 frames.
    init(_ calls: [Call], loader: String = "ip6_classifier") throws {
        test = try KernelTest.instance()
        let hike = test.instance
        for name in calls.map(\.program) + ["hike_pass"] { try hike.loadProgram(name) }
        let programs = try hike.registry().programs
        let pass = Int32(try #require(programs["hike_pass"]).id)
        let registers: [BPFRegister] = [.r2, .r3, .r4, .r5]
        let ids = try hike.symbols(addingChains: calls.map(\.chain))
        var loaders: [String: BPFProgram] = [:]
        for call in calls {
            let id = Int32(try #require(programs[call.program]).id)
            var instructions: [BPFInstruction] = [.mov64(.r1, imm: id)]
            for (register, value) in zip(registers, call.arguments) { instructions.append(.mov64(register, imm: value)) }
            instructions.append(.call(helper: ABI.fnCall))
            if !call.final { instructions += [.mov64(.r1, imm: pass), .call(helper: ABI.fnCall)] }
            instructions.append(.exit)
            try hike.installChains([(name: call.chain, id: try #require(ids[call.chain]), instructions: instructions, source: nil)])
            loaders[call.chain] = try hike.detachedLoader(loader, chain: call.chain, defaultVerdict: ABI.xdpAborted)
        }
        self.loaders = loaders
    }

    /// Test-runs one packet through a chain (the only one when nil): the verdict, the packet as
    /// it left, and the VM's last result.
    func run(_ packet: [UInt8], chain: String? = nil, context: [UInt8]? = nil) throws -> (run: TestRunResult, result: VMResult) {
        let loader = try #require(chain.map { loaders[$0] } ?? loaders.values.first)
        let before = try hike.lastResults()
        let run = try loader.testRun(TestRunOptions(data: packet, context: context))
        let result = try #require(try hike.resultAfter(before))
        #expect(result.fault == 0)
        return (run, result)
    }

    /// A map of a loaded object, opened from its pin.
    func map(_ object: String, _ name: String) throws -> BPFMap {
        try BPFMap.openPinned("\(hike.pinRoot)/maps/\(object)/\(name)")
    }
}

/// Flows and values as the packages' maps hold them.
enum NetKeys {
    static func udp(_ source: String, _ destination: String, payload: Int = 32, hopLimit: UInt8 = 64) -> [UInt8] {
        PacketBuilder.udp6(source: PacketBuilder.address(source), destination: PacketBuilder.address(destination), sourcePort: 1000,
                           destinationPort: 2000, payload: Array(repeating: 0x5a, count: payload), hopLimit: hopLimit)
    }

    /// The (source, destination) key: 32 bytes, network order.
    static func pair(_ source: String, _ destination: String) -> [UInt8] {
        PacketBuilder.address(source) + PacketBuilder.address(destination)
    }

    /// Ethernet + a minimal IPv4 header + 8 bytes: a frame the IPv6 programs must refuse.
    static let ipv4: [UInt8] = PacketBuilder.ethernet(destination: [2, 0, 0, 0, 0, 2], source: [2, 0, 0, 0, 0, 1], etherType: 0x0800)
        + [0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2] + [0, 1, 0, 2, 0, 8, 0, 0]

    static func u64s(_ values: [UInt64]) -> [UInt8] { values.flatMap { BPFMap.bytesOf($0) } }

    static func u64(_ bytes: [UInt8], at index: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[index * 8 + $1]) << (8 * UInt64($1)) }
    }

    /// A per-CPU map's value on one CPU (slots are padded to 8 bytes).
    static func onCPU(_ map: BPFMap, key: [UInt8], cpu: Int) throws -> [UInt8]? {
        guard let raw = try map.lookup(key: key) else { return nil }
        let stride = (Int(map.info.valueSize) + 7) & ~7
        return Array(raw[cpu * stride..<cpu * stride + Int(map.info.valueSize)])
    }

    /// A per-CPU map's u64 words summed over the CPUs.
    static func summed(_ map: BPFMap, key: [UInt8], words: Int) throws -> [UInt64]? {
        guard let raw = try map.lookup(key: key) else { return nil }
        let stride = (Int(map.info.valueSize) + 7) & ~7
        return (0..<words).map { word in
            (0..<(raw.count / stride)).reduce(UInt64(0)) { $0 &+ u64(Array(raw[$1 * stride..<($1 + 1) * stride]), at: word) }
        }
    }
}

extension NetKeys {
    /// A negative result as the VM's r0 holds it.
    static func r0(_ value: Int64) -> UInt64 { UInt64(bitPattern: value) }

    /// struct xdp_md for a test run that comes in on ifindex (data, data_end, data_meta,
    /// ingress_ifindex, rx_queue_index, egress_ifindex).
    static func xdpContext(length: Int, ingress: UInt32) -> [UInt8] {
        [0, UInt32(length), 0, ingress, 0, 0].flatMap { BPFMap.bytesOf($0) }
    }
}

/// Runs work on one CPU: per-CPU maps keep a value per CPU, and a key one CPU created must
/// behave as new on another.
enum PinnedCPU {
    private typealias SetAffinity = @convention(c) (pid_t, Int, UnsafeRawPointer) -> Int32
    private typealias GetAffinity = @convention(c) (pid_t, Int, UnsafeMutableRawPointer) -> Int32

    /// The CPUs this thread may run on (sched_getaffinity), ascending: the ones run(on:) can pin
    /// to. A container or a cpuset may leave out CPU 0 or leave one CPU only.
    /// allowed(), read once; empty if it cannot be read (the per-CPU tests then do not run).
    static let usable = (try? allowed()) ?? []

    static func allowed() throws -> [Int] {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "sched_getaffinity") else {
            throw BPFError.invalid("read the CPU affinity", "sched_getaffinity is not in the C library")
        }
        let getAffinity = unsafeBitCast(symbol, to: GetAffinity.self)
        var mask = [UInt64](repeating: 0, count: 16)
        guard mask.withUnsafeMutableBytes({ getAffinity(0, $0.count, $0.baseAddress!) }) == 0 else {
            throw BPFError(operation: "read the CPU affinity", errno: errno)
        }
        return (0..<64 * mask.count).filter { mask[$0 / 64] >> UInt64($0 % 64) & 1 == 1 }
    }

    private final class Box<T>: @unchecked Sendable {  // written by the thread before done is signalled
        var body: (() throws -> T)?
        var result: Result<T, Error>?
    }

    /// Runs body on a new thread pinned to cpu (sched_setaffinity, looked up at run time: Swift's
    /// Glibc hides it), so the caller's thread keeps its affinity.
    static func run<T>(on cpu: Int, _ body: () throws -> T) throws -> T {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "sched_setaffinity") else {
            throw BPFError.invalid("pin a thread", "sched_setaffinity is not in the C library")
        }
        let setAffinity = unsafeBitCast(symbol, to: SetAffinity.self)
        return try withoutActuallyEscaping(body) { body in
            let box = Box<T>()
            box.body = body
            let done = DispatchSemaphore(value: 0)
            let thread = Thread {
                var mask = [UInt64](repeating: 0, count: 16)
                mask[cpu / 64] = 1 << UInt64(cpu % 64)
                if mask.withUnsafeBytes({ setAffinity(0, $0.count, $0.baseAddress!) }) != 0 {
                    box.result = .failure(BPFError(operation: "pin a thread to CPU \(cpu)", errno: errno))
                } else {
                    box.result = Result { try box.body!() }
                }
                done.signal()
            }
            thread.start()
            done.wait()
            box.body = nil
            guard let result = box.result else { throw BPFError.invalid("run on CPU \(cpu)", "the thread returned nothing") }
            return try result.get()
        }
    }
}
