import BPFKit
import BPFObjects
import Foundation

/// The programs of bpf/bench/gen.bpf.c, loaded privately (nothing pinned): the live-frames
/// generator, the counting sink, an XDP_PASS program for veth peers and an IPv6 forwarder.
public final class GeneratorObject: @unchecked Sendable {  // maps are written before the generator starts
    public static let objectName = "gen"
    /// Bytes of the template the generator rewrites into every frame (gen.bpf.c GEN_TMPL_MAX).
    public static let templateMax = 128

    public let object: BPFObject
    public let generator: BPFProgram
    public let sink: BPFProgram
    public let pass: BPFProgram
    public let forwarder: BPFProgram

    public init() throws {
        guard let embedded = EmbeddedObjects.named(Self.objectName) else { throw BenchError.missingObject(Self.objectName) }
        object = try BPFObject(bytes: embedded.bytes, name: embedded.name)
        generator = try object.program("gen_live")
        sink = try object.program("gen_sink")
        pass = try object.program("gen_pass")
        forwarder = try object.program("gen_fwd6")
    }

    /// What the generator sends: `frame` is the template (its length is the frame's length).
    public struct Config: Sendable {
        public var frame: [UInt8]
        /// 0: XDP_TX out of the generator's interface; else bpf_redirect to this ifindex (in the
        /// generator's namespace).
        public var redirectIndex: UInt32 = 0
        /// Distinct flows: the low 16 bits of the IPv6 source address and the UDP source port
        /// go up by seq % flows (the UDP checksum is updated to match).
        public var flows: UInt32 = 1
        /// Frames per second per generating CPU; 0: as fast as it can.
        public var ratePPS: UInt64 = 0

        public init(frame: [UInt8], redirectIndex: UInt32 = 0, flows: UInt32 = 1, ratePPS: UInt64 = 0) {
            self.frame = frame
            self.redirectIndex = redirectIndex
            self.flows = flows
            self.ratePPS = ratePPS
        }
    }

    /// Writes the generator's configuration (struct gen_cfg) and resets its pacing state.
    public func configure(_ config: Config) throws {
        precondition(config.frame.count >= 62, "an Eth/IPv6/UDP frame is at least 62 bytes")
        let copy = min(config.frame.count, Self.templateMax) / 8 * 8
        var value = [UInt8]()
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { value += $0 } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { value += $0 } }
        let isIPv6UDP = config.frame[12] == 0x86 && config.frame[13] == 0xdd && config.frame[20] == 17
        u32(UInt32(copy))
        u32(config.redirectIndex)
        u32(isIPv6UDP ? config.flows : 1)
        u32(14 + 8 + 14)      // last 16-bit word of the IPv6 source address
        u32(14 + 40)          // UDP source port
        u32(14 + 40 + 6)      // UDP checksum
        u64(config.ratePPS)
        var template = Array(config.frame.prefix(Self.templateMax))
        template += [UInt8](repeating: 0, count: Self.templateMax - template.count)
        value += template
        try object.map("gen_config").update(key: [0, 0, 0, 0], value: value)
        let state = try object.map("gen_state")
        let cpus = try state.valueBufferSize() / 24
        try state.updatePerCPU(UInt32(0), [GenState](repeating: GenState(), count: max(cpus, 1)))
    }

    struct GenState: BitwiseCopyable { var seq: UInt64 = 0; var lastNS: UInt64 = 0; var tokens: UInt64 = 0 }

    /// Frames the generator sent (slot 0) and paced away (slot 1), summed over CPUs.
    public func generatorCounters() throws -> (sent: PacketCounter, paced: PacketCounter) {
        let map = try object.map("gen_stats")
        return (try map.lookupSum(UInt32(0), as: PacketCounter.self) ?? .zero,
                try map.lookupSum(UInt32(1), as: PacketCounter.self) ?? .zero)
    }

    /// What gen_sink received, summed over CPUs.
    public func sinkCounter() throws -> PacketCounter {
        try object.map("sink_stats").lookupSum(UInt32(0), as: PacketCounter.self) ?? .zero
    }

    /// What gen_sink received on each CPU.
    public func sinkCounterPerCPU() throws -> [PacketCounter] {
        try object.map("sink_stats").lookupPerCPU(UInt32(0), as: PacketCounter.self) ?? []
    }

    /// gen_fwd6: forwarded (slot 0) and passed to the kernel (slot 1).
    public func forwarderCounters() throws -> (forwarded: PacketCounter, passed: PacketCounter) {
        let map = try object.map("fwd_stats")
        return (try map.lookupSum(UInt32(0), as: PacketCounter.self) ?? .zero,
                try map.lookupSum(UInt32(1), as: PacketCounter.self) ?? .zero)
    }

    /// Zeroes every counter.
    public func resetCounters() throws {
        for name in ["gen_stats", "sink_stats", "fwd_stats"] {
            let map = try object.map(name)
            let cpus = try map.valueBufferSize() / MemoryLayout<PacketCounter>.stride
            for key in 0..<UInt32(map.info.maxEntries) {
                try map.updatePerCPU(key, [PacketCounter](repeating: .zero, count: max(cpus, 1)))
            }
        }
    }
}

/// Runs gen_live with BPF_F_TEST_XDP_LIVE_FRAMES in a loop on a thread of its own, inside the
/// generator's namespace and pinned to a CPU, until `stop()`.
public final class LiveGenerator: @unchecked Sendable {  // the flags are guarded by lock
    private let lock = NSLock()
    private var stopping = false
    private var finished = false
    private var failure: Error?
    private var runs = 0
    private let done = DispatchSemaphore(value: 0)

    /// Test runs per syscall: each one sets up and tears down a page pool (≈30 ms, a gap in the
    /// traffic), so one syscall runs for the whole trial and `stop()` interrupts it with a signal
    /// (the kernel's test-run loop ends with EINTR when a signal is pending).
    public static let defaultRepeat: UInt32 = 1 << 30
    private var threadID: pthread_t?

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
                    self.lock.withLock { self.threadID = pthread_self() }
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
                        self.lock.withLock { self.runs += 1 }
                    }
                }
            } catch {
                self.lock.withLock { self.failure = error }
            }
            self.lock.withLock { self.finished = true }
            self.done.signal()
        }
        thread.name = "hike-bench-generator"
        thread.start()
    }

    private func shouldStop() -> Bool { lock.withLock { stopping } }

    /// Whether the generator thread has ended (an error ends it early).
    public var hasFinished: Bool { lock.withLock { finished } }

    /// Asks the generator to stop after the current test run, waits for it and rethrows its error.
    public func stop() throws {
        lock.withLock { stopping = true }
        // Signal until the thread has ended: it may be between two syscalls when a signal lands.
        while done.wait(timeout: .now() + .milliseconds(20)) == .timedOut {
            if let thread = lock.withLock({ threadID }) { pthread_kill(thread, SIGUSR1) }
        }
        if let failure = lock.withLock({ failure }) { throw failure }
    }
}
