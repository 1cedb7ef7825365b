import CBPF
import Foundation

/// What the kernel says about a loaded program.
public struct ProgramInfo: Sendable, Hashable {
    public let id: UInt32
    /// The kernel's name (at most 15 characters).
    public let name: String
    public let type: ProgramType
    /// The program's tag: a hash of its instructions, as `bpftool prog` prints it.
    public let tag: String
    public let translatedSize: UInt32
    public let jitedSize: UInt32
    /// Instructions the verifier processed to accept the program: its verification cost.
    public let verifiedInstructions: UInt32
    /// IDs of the maps the program uses.
    public let mapIDs: [UInt32]
}

/// Flags for `BPF_PROG_TEST_RUN`.
public struct TestRunFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// XDP only: the frames are really sent (XDP_TX / XDP_REDIRECT / XDP_PASS act as on a live
    /// interface) instead of being handed back. Output data is then not returned.
    public static let xdpLiveFrames = TestRunFlags(rawValue: cbpf_test_xdp_live_frames)
}

/// One `BPF_PROG_TEST_RUN`.
public struct TestRunOptions: Sendable {
    /// The packet (or input data) the program sees.
    public var data: [UInt8]
    /// Room for the output packet; nil: the input's size plus 256 bytes (headers a program may push).
    public var dataOutCapacity: Int?
    /// The context (e.g. `struct xdp_md` with ingress_ifindex), when the program type takes one.
    public var context: [UInt8]?
    /// Runs in a row; the kernel reports the average duration.
    public var repeatCount: UInt32
    public var flags: TestRunFlags
    /// Live frames: frames sent per batch (kernel default 64 when 0).
    public var batchSize: UInt32
    /// Run on this CPU (only for program types that support it).
    public var cpu: UInt32?

    public init(data: [UInt8], dataOutCapacity: Int? = nil, context: [UInt8]? = nil, repeatCount: UInt32 = 1,
                flags: TestRunFlags = [], batchSize: UInt32 = 0, cpu: UInt32? = nil) {
        self.data = data
        self.dataOutCapacity = dataOutCapacity
        self.context = context
        self.repeatCount = repeatCount
        self.flags = flags
        self.batchSize = batchSize
        self.cpu = cpu
    }
}

/// What a test run gave back.
public struct TestRunResult: Sendable {
    /// The program's return value (for XDP: the verdict).
    public let returnValue: UInt32
    /// The packet as the program left it (empty for live frames).
    public let data: [UInt8]
    /// The context as the program left it, when one was passed.
    public let context: [UInt8]?
    /// Average time of one run, as the kernel measured it.
    public let duration: Duration
}

/// A loaded program, reached through its file descriptor.
public final class BPFProgram: @unchecked Sendable {  // immutable after init
    public let fd: Int32
    public let name: String
    public let type: ProgramType
    /// Keeps the libbpf object that owns `fd` open; nil when this program owns `fd` itself.
    private let owner: AnyObject?

    init(fd: Int32, name: String, type: ProgramType, owner: AnyObject?) {
        self.fd = fd
        self.name = name
        self.type = type
        self.owner = owner
    }

    deinit {
        if owner == nil { close(fd) }
    }

    /// Opens a program pinned on a bpffs.
    public static func openPinned(_ path: String) throws -> BPFProgram {
        let (fd, lines) = Libbpf.capturing { bpf_obj_get(path) }
        if fd < 0 { throw BPFError.fromErrno("open pinned program \(path)", code: fd, messages: lines) }
        do {
            let info = try readInfo(fd: fd, name: path)
            return BPFProgram(fd: fd, name: info.name, type: info.type, owner: nil)
        } catch {
            close(fd)
            throw error
        }
    }

    public func info() throws -> ProgramInfo {
        try Self.readInfo(fd: fd, name: name)
    }

    private static func readInfo(fd: Int32, name: String) throws -> ProgramInfo {
        // First ask how many maps there are, then fetch their IDs.
        var raw = bpf_prog_info()
        var length = UInt32(MemoryLayout<bpf_prog_info>.size)
        var code = bpf_obj_get_info_by_fd(fd, &raw, &length)
        if code < 0 { throw BPFError.fromErrno("read info of program '\(name)'", code: code) }
        var mapIDs = [UInt32](repeating: 0, count: Int(raw.nr_map_ids))
        if !mapIDs.isEmpty {
            let count = raw.nr_map_ids
            raw = bpf_prog_info()
            raw.nr_map_ids = count
            code = mapIDs.withUnsafeMutableBufferPointer { ids in
                raw.map_ids = UInt64(UInt(bitPattern: ids.baseAddress))
                length = UInt32(MemoryLayout<bpf_prog_info>.size)
                return bpf_obj_get_info_by_fd(fd, &raw, &length)
            }
            if code < 0 { throw BPFError.fromErrno("read map IDs of program '\(name)'", code: code) }
        }
        let kernelName = withUnsafeBytes(of: raw.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let tag = withUnsafeBytes(of: raw.tag) { $0.map { String(format: "%02x", $0) }.joined() }
        return ProgramInfo(id: raw.id, name: kernelName, type: ProgramType(rawValue: raw.type), tag: tag,
                           translatedSize: raw.xlated_prog_len, jitedSize: raw.jited_prog_len,
                           verifiedInstructions: raw.verified_insns, mapIDs: mapIDs)
    }

    /// Runs the program on the given data with `BPF_PROG_TEST_RUN`.
    public func testRun(_ options: TestRunOptions) throws -> TestRunResult {
        let live = options.flags.contains(.xdpLiveFrames)
        var dataOut = [UInt8](repeating: 0, count: live ? 0 : (options.dataOutCapacity ?? options.data.count + 256))
        var contextOut = [UInt8](repeating: 0, count: options.context?.count ?? 0)
        var opts = cbpf_bpf_test_run_opts()
        let code: Int32 = options.data.withUnsafeBytes { dataIn in
            dataOut.withUnsafeMutableBytes { dataOutBuffer in
                (options.context ?? []).withUnsafeBytes { contextIn in
                    contextOut.withUnsafeMutableBytes { contextOutBuffer in
                        opts.data_in = dataIn.baseAddress
                        opts.data_size_in = UInt32(dataIn.count)
                        if !live {
                            opts.data_out = dataOutBuffer.baseAddress
                            opts.data_size_out = UInt32(dataOutBuffer.count)
                        }
                        if options.context != nil {
                            opts.ctx_in = contextIn.baseAddress
                            opts.ctx_size_in = UInt32(contextIn.count)
                            // Live frames take a context in but give none back (EINVAL otherwise).
                            if !live {
                                opts.ctx_out = contextOutBuffer.baseAddress
                                opts.ctx_size_out = UInt32(contextOutBuffer.count)
                            }
                        }
                        opts.repeat = Int32(bitPattern: options.repeatCount)
                        opts.flags = options.flags.rawValue
                        opts.batch_size = options.batchSize
                        if let cpu = options.cpu {
                            opts.cpu = cpu
                            opts.flags |= UInt32(BPF_F_TEST_RUN_ON_CPU)
                        }
                        return bpf_prog_test_run_opts(fd, &opts)
                    }
                }
            }
        }
        if code < 0 {
            var hint = ""
            if code == -ENOSPC { hint = "the output buffer (\(dataOut.count) bytes) is too small: raise dataOutCapacity" }
            throw BPFError(operation: "test run of program '\(name)'", errno: -code, message: hint)
        }
        return TestRunResult(
            returnValue: opts.retval,
            data: live ? [] : Array(dataOut.prefix(Int(opts.data_size_out))),
            context: options.context == nil || live ? nil : Array(contextOut.prefix(Int(opts.ctx_size_out))),
            duration: .nanoseconds(Int64(opts.duration)))
    }

    /// Pins the program on a bpffs, so it outlives this process.
    public func pin(at path: String) throws {
        let (code, lines) = Libbpf.capturing { bpf_obj_pin(fd, path) }
        if code < 0 { throw BPFError.fromErrno("pin program '\(name)' at \(path)", code: code, messages: lines) }
    }
}
