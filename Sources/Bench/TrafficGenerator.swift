import BPFKit
import BPFObjects
import Foundation
import NetKit
import Synchronization
import Topology

/// The programs of bpf/bench/gen.bpf.c, loaded privately (nothing pinned): the live-frames
/// generator, the counting sink, an XDP_PASS program for veth peers and an IPv6 forwarder.
public final class GeneratorObject: @unchecked Sendable {  // maps are written before the generator starts
    public static let objectName = "gen"
    /// Bytes of the template the generator rewrites into every frame (gen.bpf.c GEN_TMPL_MAX).
    public static let templateMax = 256

    public let object: BPFObject
    public let generator: BPFProgram
    public let sink: BPFProgram
    public let pass: BPFProgram
    /// gen_reflect: every frame back out of the interface it came in on (MACs swapped).
    public let reflector: BPFProgram
    public let forwarder: BPFProgram
    /// gen_sink that also counts frames per shape (tests only: a hash update per frame).
    public let inspector: BPFProgram
    let generatorStats: TypedMap<UInt32, PacketCounter>, sinkStats: TypedMap<UInt32, PacketCounter>
    let forwarderStats: TypedMap<UInt32, PacketCounter>

    public init() throws {
        guard let embedded = EmbeddedObjects.named(Self.objectName) else { throw BenchError.missingObject(Self.objectName) }
        object = try BPFObject(bytes: embedded.bytes, name: embedded.name)
        generator = try object.program("gen_live")
        sink = try object.program("gen_sink")
        pass = try object.program("gen_pass")
        forwarder = try object.program("gen_fwd6")
        reflector = try object.program("gen_reflect")
        inspector = try object.program("gen_inspect")
        generatorStats = try TypedMap(object.map("gen_stats"))
        sinkStats = try TypedMap(object.map("sink_stats"))
        forwarderStats = try TypedMap(object.map("fwd_stats"))
    }

    /// What the generator sends: `frame` is the template (its length is the frame's length).
    public struct Config: Sendable {
        public var frame: PacketTemplate.Frame
        /// 0: XDP_TX out of the generator's interface; else bpf_redirect to this ifindex (in the
        /// generator's namespace).
        public var redirectIndex: UInt32 = 0
        /// Distinct flows: the low 16 bits of the innermost source address and the UDP source
        /// port go up by seq % flows (the UDP and IPv4 header checksums are updated to match).
        public var flows: UInt32 = 1
        /// Frames per second per generating CPU; 0: as fast as it can.
        public var ratePPS: UInt64 = 0

        public init(frame: PacketTemplate.Frame, redirectIndex: UInt32 = 0, flows: UInt32 = 1, ratePPS: UInt64 = 0) {
            self.frame = frame
            self.redirectIndex = redirectIndex
            self.flows = flows
            self.ratePPS = ratePPS
        }
    }

    /// Writes the generator's configuration (struct gen_cfg) and resets its pacing state.
    public func configure(_ config: Config) throws {
        let frame = config.frame
        guard frame.headerLength <= Self.templateMax, frame.headerLength <= frame.bytes.count else {
            throw BenchError.chainFailed(what: "generator template",
                                         detail: "\(frame.headerLength) bytes of headers; gen_live rewrites at most \(Self.templateMax)")
        }
        var template = Array(frame.bytes.prefix(Self.templateMax))
        template += [UInt8](repeating: 0, count: Self.templateMax - template.count)
        // Every header is rewritten, so what a DUT changed in a recycled frame (hop limit, MACs,
        // an SRH's Segments Left, a decapsulation) never shows in the next one.
        let entry = GeneratorConfigEntry(copyLen: UInt32(frame.headerLength), ifindex: config.redirectIndex, flows: config.flows,
                                         srcOff: UInt32(frame.flowWordOffset), portOff: UInt32(frame.portOffset),
                                         csumOff: UInt32(frame.udpChecksumOffset), l3csumOff: UInt32(frame.ipv4ChecksumOffset ?? 0),
                                         ratePPS: config.ratePPS, tmpl: template)
        try TypedMap<UInt32, GeneratorConfigEntry>(object.map("gen_config")).update(0, entry)
        try TypedMap<UInt32, GeneratorStateEntry>(object.map("gen_state")).update(0, GeneratorStateEntry())
    }

    /// What gen_inspect saw (struct gen_shape): one kind of frame.
    public struct Shape: Hashable, Sendable, CustomStringConvertible {
        public var length: Int, destinationPort: UInt16, outer: Int, hasSRH: Bool, lastEntry: Int, segmentsLeft: Int
        public var inner: Int, hopLimit: Int

        public init(length: Int, destinationPort: UInt16 = PacketTemplate.udpDestinationPort, outer: Int, hasSRH: Bool = false,
                    lastEntry: Int = 0, segmentsLeft: Int = 0, inner: Int = 0, hopLimit: Int) {
            self.length = length
            self.destinationPort = destinationPort
            self.outer = outer
            self.hasSRH = hasSRH
            self.lastEntry = lastEntry
            self.segmentsLeft = segmentsLeft
            self.inner = inner
            self.hopLimit = hopLimit
        }

        init(_ key: GeneratorShapeKey) {
            length = Int(key.length)
            destinationPort = key.dport
            outer = Int(key.outer)
            hasSRH = key.srh != 0
            lastEntry = Int(key.lastEntry)
            segmentsLeft = Int(key.segmentsLeft)
            inner = Int(key.inner)
            hopLimit = Int(key.hopLimit)
        }

        public var description: String {
            "\(length) B IPv\(outer)" + (hasSRH ? " SRH(last entry \(lastEntry), SL \(segmentsLeft))" : "")
                + (inner != 0 ? " IPv\(inner)" : "") + " UDP→\(destinationPort)" + (hopLimit != 0 ? " hop limit \(hopLimit)" : "")
        }
    }

    /// gen_inspect's counts per shape, summed over CPUs.
    public func shapes() throws -> [Shape: UInt64] {
        var result: [Shape: UInt64] = [:]
        for entry in try TypedMap<GeneratorShapeKey, UInt64>(object.map("sink_shapes")).entries() {
            result[Shape(entry.key), default: 0] += entry.values.reduce(0, +)
        }
        return result
    }

    /// Frames the generator sent (slot 0) and paced away (slot 1), summed over CPUs.
    public func generatorCounters() throws -> (sent: PacketCounter, paced: PacketCounter) {
        (try generatorStats.lookupSum(0) ?? .zero, try generatorStats.lookupSum(1) ?? .zero)
    }

    /// What gen_sink received, summed over CPUs.
    public func sinkCounter() throws -> PacketCounter {
        try sinkStats.lookupSum(0) ?? .zero
    }

    /// What gen_sink received on each CPU.
    public func sinkCounterPerCPU() throws -> [PacketCounter] {
        try sinkStats.lookupPerCPU(0) ?? []
    }

    /// gen_fwd6: forwarded (slot 0) and passed to the kernel (slot 1).
    public func forwarderCounters() throws -> (forwarded: PacketCounter, passed: PacketCounter) {
        (try forwarderStats.lookupSum(0) ?? .zero, try forwarderStats.lookupSum(1) ?? .zero)
    }

    /// One live frame through gen_sink: some kernels refuse BPF_F_TEST_XDP_LIVE_FRAMES (EPERM)
    /// although they are new enough, and then no DUT can be measured here.
    public func checkLiveFrames() throws {
        do {
            _ = try sink.testRun(TestRunOptions(data: [UInt8](repeating: 0, count: 64), repeatCount: 1, flags: .xdpLiveFrames))
        } catch let error as BPFError where error.errno == EPERM || error.errno == EINVAL {
            let release = (try? String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            throw BenchError.unavailable("this kernel (\(release)) refuses "
                + "BPF_F_TEST_XDP_LIVE_FRAMES (\(error.errno == EPERM ? "EPERM" : "EINVAL")), which hike bench run generates its "
                + "traffic with (hike doctor: test-run-live-frames): run it on another kernel, e.g. in the reference VM "
                + "(scripts/kernel-vm.sh --kernel 6.12 -- hike bench run …); hike bench vm, compile and fastdrop work here")
        }
        try resetCounters()
    }

    /// Zeroes every counter.
    public func resetCounters() throws {
        for map in [generatorStats, sinkStats, forwarderStats] {
            for key in 0..<map.map.info.maxEntries { try map.update(key, .zero) }
        }
        let shapes = try object.map("sink_shapes")
        for key in try shapes.keys() { _ = try shapes.delete(key: key) }
    }
}

/// Runs gen_live with BPF_F_TEST_XDP_LIVE_FRAMES in a loop on a thread of its own, inside the
/// generator's namespace and pinned to a CPU, until `stop()`.
public final class LiveGenerator: Sendable {
    private struct State {
        var stopping = false
        var finished = false
        var failure: (any Error)?
        var threadID: pthread_t?
        var kernelThreadID: pid_t?
    }
    private let state = Mutex(State())
    private let done = DispatchSemaphore(value: 0)

    /// Test runs per syscall: each one sets up and tears down a page pool (≈30 ms, a gap in the
    /// traffic), so one syscall runs for the whole trial and `stop()` interrupts it with a signal
    /// (the kernel's test-run loop ends with EINTR when a signal is pending).
    public static let defaultRepeat: UInt32 = 1 << 30

    /// The generator thread's CPU time so far (user + system, clock ticks), from
    /// /proc/self/task/<tid>/stat; nil before the thread runs or when unreadable.
    public var cpuTicks: UInt64? {
        guard let tid = state.withLock({ $0.kernelThreadID }),
              let text = try? String(contentsOfFile: "/proc/self/task/\(tid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // After "pid (comm)": state is field 3, utime 14 and stime 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { return nil }
        return user + system
    }

    /// SIGUSR1 does nothing but interrupt the generator's syscall (no SA_RESTART).
    private static let installHandler: Void = {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(SIGUSR1, &action, nil)
    }()

    /// Starts sending. `interface` is the generator's veth in `namespace` (the frames leave
    /// through it with XDP_TX).
    /// `frame` is the initial content of every live frame (gen_live rewrites its headers each time).
    public init(object: GeneratorObject, namespace: NetworkNamespace, interface: String, frame data: [UInt8],
                cpu: Int?, repeatCount: UInt32 = LiveGenerator.defaultRepeat, batchSize: UInt32 = 64) {
        _ = Self.installHandler
        let thread = Thread { [self] in
            do {
                try namespace.run {
                    // run() enters the namespace on a thread of its own: this one makes the syscall.
                    // /proc/thread-self links to "<pid>/task/<tid>" (Glibc's module has no gettid).
                    let link = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self")) ?? ""
                    let tid = link.split(separator: "/").last.flatMap { pid_t($0) }
                    self.state.withLock { $0.threadID = pthread_self(); $0.kernelThreadID = tid }
                    // A thread inherits its creator's signal mask, and threads of a dispatch or
                    // test runner pool block SIGUSR1: stop() could then never interrupt the syscall.
                    var usr1 = sigset_t()
                    sigemptyset(&usr1)
                    sigaddset(&usr1, SIGUSR1)
                    pthread_sigmask(SIG_UNBLOCK, &usr1, nil)
                    if let cpu { try CPUAffinity.pinCurrentThread(to: cpu) }
                    // No xdp_md context: BPFKit sets ctx_out whenever a context is given, which
                    // live mode rejects (EINVAL). gen_live redirects to the interface instead of
                    // XDP_TX out of the ingress device (configure sets redirectIndex).
                    let options = TestRunOptions(data: data, repeatCount: repeatCount,
                                                 flags: .xdpLiveFrames, batchSize: batchSize)
                    while !self.shouldStop() {
                        do {
                            _ = try object.generator.testRun(options)
                        } catch where self.shouldStop() {
                            break  // EINTR from stop()
                        }
                    }
                }
            } catch {
                self.state.withLock { $0.failure = error }
            }
            self.state.withLock { $0.finished = true }
            self.done.signal()
        }
        thread.name = "hike-bench-generator"
        thread.start()
    }

    private func shouldStop() -> Bool { state.withLock { $0.stopping } }

    /// Whether the generator thread has ended (an error ends it early).
    public var hasFinished: Bool { state.withLock { $0.finished } }

    /// Asks the generator to stop after the current test run, waits for it and rethrows its error.
    public func stop() throws {
        state.withLock { $0.stopping = true }
        // Signal until the thread has ended: it may be between two syscalls when a signal lands.
        while done.wait(timeout: .now() + .milliseconds(20)) == .timedOut {
            if let thread = state.withLock({ $0.threadID }) { pthread_kill(thread, SIGUSR1) }
        }
        if let failure = state.withLock({ $0.failure }) { throw failure }
    }
}

// gen.bpf.c's map entries. Their coding keys are the C member names; the object's BTF lays
// them out (BTFCoding).

/// `struct gen_cfg`: what gen_live sends.
struct GeneratorConfigEntry: Codable, Sendable {
    var copyLen: UInt32
    var ifindex: UInt32
    var flows: UInt32
    var srcOff: UInt32
    var portOff: UInt32
    var csumOff: UInt32
    var l3csumOff: UInt32
    var pad: UInt32 = 0
    var ratePPS: UInt64
    /// All GEN_TMPL_MAX bytes.
    var tmpl: [UInt8]

    enum CodingKeys: String, CodingKey {
        case copyLen = "copy_len", ifindex, flows, srcOff = "src_off", portOff = "port_off", csumOff = "csum_off"
        case l3csumOff = "l3csum_off", pad, ratePPS = "rate_pps", tmpl
    }
}

/// `struct gen_state`: gen_live's pacing state, per CPU.
struct GeneratorStateEntry: Codable, Sendable {
    var seq: UInt64 = 0
    var lastNS: UInt64 = 0
    var tokens: UInt64 = 0

    enum CodingKeys: String, CodingKey { case seq, lastNS = "last_ns", tokens }
}

/// `struct gen_shape`: the key gen_inspect counts frames by.
struct GeneratorShapeKey: Codable, Sendable {
    var length: UInt16
    var dport: UInt16
    var outer: UInt8
    var srh: UInt8
    var lastEntry: UInt8
    var segmentsLeft: UInt8
    var inner: UInt8
    var hopLimit: UInt8
    var pad: UInt16 = 0

    enum CodingKeys: String, CodingKey {
        case length, dport, outer, srh, lastEntry = "last_entry", segmentsLeft = "segments_left", inner, hopLimit = "hop_limit", pad
    }
}
