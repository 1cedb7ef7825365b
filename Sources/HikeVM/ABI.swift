// The HIKe VM ABI as Swift constants: a mirror of bpf/include/hike/vm_abi.h.
//
// The header is the single source of truth. `ABI.constants` lists every numeric macro under its
// C name so that a test can compare it with values exported from a compiled object; a second test
// parses the header text so that a macro added there without a Swift twin fails loudly.

/// Constants shared by the kernel VM and the Swift side (see docs/vm.md).
public enum ABI {
    // MARK: Identifiers

    /// Chain IDs have this bit set; any other ID names a program (`HVM_CHAIN_FLAG`).
    public static let chainFlag: UInt32 = 1 << 30
    /// Program IDs are indexes 0 ..< progTableSize in the program table (`HVM_PROG_TABLE_SIZE`).
    public static let progTableSize: UInt32 = 256

    // MARK: Limits

    public static let chainSlots: UInt32 = 256
    /// Instruction slots per chain; LD_IMM64 takes two (`HVM_CHAIN_INSNS_MAX`).
    public static let chainInsnsMax: UInt32 = 512
    /// Nested chain frames, root included (`HVM_DEPTH_MAX`).
    public static let depthMax: UInt32 = 16
    public static let stackSize: UInt32 = 256
    public static let shmemSize: UInt32 = 4096
    /// Instructions per activation: from a loader's start or a program's return to the next program call.
    public static let activationBudget: UInt32 = 4096
    /// Instructions per packet, all activations together.
    public static let packetBudget: UInt32 = 65536
    /// Program calls per packet (the kernel allows 33 tail calls).
    public static let progCallsMax: UInt32 = 32
    public static let registerCount: UInt32 = 11
    /// Highest packet offset the VM addresses (`HVM_PACKET_MAX`).
    public static let packetMax: UInt32 = 0x3fff

    // MARK: Memory banks

    public static let bankShift: UInt32 = 24
    public static let offsetMask: UInt32 = 0xff_ffff
    public static let bankPacket: UInt32 = 1
    public static let bankPacketLength: UInt32 = 2
    public static let bankSharedMemory: UInt32 = 3
    public static let bankStack: UInt32 = 4

    /// `HVM_ADDR(bank, off)`: a VM address, `bank << 24 | offset`.
    public static func address(bank: UInt32, offset: UInt32) -> UInt64 {
        UInt64(bank) << UInt64(bankShift) | UInt64(offset)
    }

    /// r10 of every frame: one past the end of the stack bank (`HVM_STACK_TOP`).
    public static let stackTop: UInt64 = address(bank: bankStack, offset: stackSize)

    // MARK: Calls

    /// `call imm` in fnCallFirst...fnCallLast calls the element whose ID is in r1.
    public static let fnCallFirst: Int32 = 0x10
    public static let fnCallLast: Int32 = 0x15
    /// The element call the assembler emits (`HVM_FN_CALL`).
    public static let fnCall: Int32 = 0x14

    public static let fnPktReadU8: Int32 = 0x20
    public static let fnPktReadU16: Int32 = 0x21
    public static let fnPktReadU32: Int32 = 0x22
    public static let fnPktReadU64: Int32 = 0x23
    public static let fnPktWriteU8: Int32 = 0x24
    public static let fnPktWriteU16: Int32 = 0x25
    public static let fnPktWriteU32: Int32 = 0x26
    public static let fnPktWriteU64: Int32 = 0x27
    public static let fnPktLen: Int32 = 0x28
    public static let fnKtimeNs: Int32 = 0x29
    public static let fnRandom: Int32 = 0x2a
    public static let fnCPU: Int32 = 0x2b

    // MARK: Program results

    /// What a program returns to continue the chain with r0 = HVM_RET (XDP_REDIRECT + 100).
    public static let hikeXDPVM: UInt32 = 104
    /// Verdicts are XDP_ABORTED ... XDP_REDIRECT (`HVM_VERDICT_MAX`).
    public static let verdictMax: UInt32 = 4

    public static let xdpAborted: UInt32 = 0
    public static let xdpDrop: UInt32 = 1
    public static let xdpPass: UInt32 = 2
    public static let xdpTX: UInt32 = 3
    public static let xdpRedirect: UInt32 = 4

    /// `HVM_FAULT_REASONS`: one more than the highest fault number.
    public static let faultReasons: UInt32 = 10

    // MARK: Metadata

    public static let nameLength: UInt32 = 32
    public static let argsMax: UInt32 = 4
    public static let argNameLength: UInt32 = 24
    public static let argTypeLength: UInt32 = 8
    public static let metaProgram: UInt32 = 1
    public static let metaLoader: UInt32 = 2
    public static let factFinal: UInt32 = 1
    public static let factMap: UInt32 = 2
    /// HIKE_FACT_CLOCK: the fact names a map ("<map>:ntp" or "<map>:unix") holding the boot-time →
    /// wall-clock offset that hike keeps current.
    public static let factClock: UInt32 = 3
    /// HIKE_FACT_COPY: the program copies another package's (named by the fact), which keeps the
    /// plain name when both export it.
    public static let factCopy: UInt32 = 4

    /// Every numeric macro of vm_abi.h under its C name (function-like macros and the include
    /// guard excluded), for comparison with values exported from a compiled object.
    public static let constants: [String: UInt64] = {
        var table: [String: UInt64] = [
            "HVM_CHAIN_FLAG": UInt64(chainFlag),
            "HVM_PROG_TABLE_SIZE": UInt64(progTableSize),
            "HVM_CHAIN_SLOTS": UInt64(chainSlots),
            "HVM_CHAIN_INSNS_MAX": UInt64(chainInsnsMax),
            "HVM_DEPTH_MAX": UInt64(depthMax),
            "HVM_STACK_SIZE": UInt64(stackSize),
            "HVM_SHMEM_SIZE": UInt64(shmemSize),
            "HVM_ACTIVATION_BUDGET": UInt64(activationBudget),
            "HVM_PACKET_BUDGET": UInt64(packetBudget),
            "HVM_PROG_CALLS_MAX": UInt64(progCallsMax),
            "HVM_NREGS": UInt64(registerCount),
            "HVM_PACKET_MAX": UInt64(packetMax),
            "HVM_BANK_SHIFT": UInt64(bankShift),
            "HVM_OFFSET_MASK": UInt64(offsetMask),
            "HVM_BANK_PACKET": UInt64(bankPacket),
            "HVM_BANK_PKTLEN": UInt64(bankPacketLength),
            "HVM_BANK_SHMEM": UInt64(bankSharedMemory),
            "HVM_BANK_STACK": UInt64(bankStack),
            "HVM_STACK_TOP": stackTop,
            "HVM_FN_CALL_FIRST": UInt64(fnCallFirst),
            "HVM_FN_CALL_LAST": UInt64(fnCallLast),
            "HVM_FN_CALL": UInt64(fnCall),
            "HIKE_XDP_VM": UInt64(hikeXDPVM),
            "HVM_VERDICT_MAX": UInt64(verdictMax),
            "HVM_FAULT_REASONS": UInt64(faultReasons),
            "HIKE_NAME_LEN": UInt64(nameLength),
            "HIKE_ARGS_MAX": UInt64(argsMax),
            "HIKE_ARG_NAME_LEN": UInt64(argNameLength),
            "HIKE_ARG_TYPE_LEN": UInt64(argTypeLength),
            "HIKE_META_PROGRAM": UInt64(metaProgram),
            "HIKE_META_LOADER": UInt64(metaLoader),
            "HIKE_FACT_FINAL": UInt64(factFinal),
            "HIKE_FACT_MAP": UInt64(factMap),
            "HIKE_FACT_CLOCK": UInt64(factClock),
            "HIKE_FACT_COPY": UInt64(factCopy),
        ]
        for helper in VMHelper.allCases {
            table[helper.macroName] = UInt64(helper.rawValue)
        }
        for fault in Fault.allCases {
            table[fault.macroName] = UInt64(fault.rawValue)
        }
        return table
    }()
}

/// The VM helpers: `call imm` with these immediates runs them in the VM, without a tail call.
/// They take r1 (and r2), put the result in r0 and leave every other register unchanged.
public enum VMHelper: Int32, CaseIterable, Hashable, Sendable {
    case pktReadU8 = 0x20, pktReadU16, pktReadU32, pktReadU64
    case pktWriteU8 = 0x24, pktWriteU16, pktWriteU32, pktWriteU64
    case pktLen = 0x28, ktimeNs, random, cpu

    /// The name the chain assembler uses (`call pkt_read_u8`).
    public var name: String {
        switch self {
        case .pktReadU8: "pkt_read_u8"
        case .pktReadU16: "pkt_read_u16"
        case .pktReadU32: "pkt_read_u32"
        case .pktReadU64: "pkt_read_u64"
        case .pktWriteU8: "pkt_write_u8"
        case .pktWriteU16: "pkt_write_u16"
        case .pktWriteU32: "pkt_write_u32"
        case .pktWriteU64: "pkt_write_u64"
        case .pktLen: "pkt_len"
        case .ktimeNs: "ktime_ns"
        case .random: "random"
        case .cpu: "cpu"
        }
    }

    /// `HVM_FN_PKT_READ_U8` …
    public var macroName: String { "HVM_FN_" + name.uppercased() }

    /// Bytes a packet read or write moves (0 for the others).
    public var accessSize: Int {
        switch self {
        case .pktReadU8, .pktWriteU8: 1
        case .pktReadU16, .pktWriteU16: 2
        case .pktReadU32, .pktWriteU32: 4
        case .pktReadU64, .pktWriteU64: 8
        default: 0
        }
    }

    /// ktime, random and cpu differ between runs; differential tests avoid them.
    public var isDeterministic: Bool {
        switch self {
        case .ktimeNs, .random, .cpu: false
        default: true
        }
    }

    public init?(name: String) {
        guard let helper = VMHelper.allCases.first(where: { $0.name == name }) else { return nil }
        self = helper
    }
}

/// Why a chain ended early (`HVM_FAULT_*`). A fault gives the packet the loader's default verdict.
public enum Fault: UInt32, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    case none = 0
    case invalidAccess = 1
    case unknownOpcode = 2
    case budget = 3
    case stack = 4
    case depth = 5
    case unknownCallee = 6
    case badJump = 7
    case callLimit = 8
    case badVerdict = 9

    /// The name after `HVM_FAULT_` in the header (`INVALID_ACCESS`).
    public var name: String {
        switch self {
        case .none: "NONE"
        case .invalidAccess: "INVALID_ACCESS"
        case .unknownOpcode: "UNKNOWN_OPCODE"
        case .budget: "BUDGET"
        case .stack: "STACK"
        case .depth: "DEPTH"
        case .unknownCallee: "UNKNOWN_CALLEE"
        case .badJump: "BAD_JUMP"
        case .callLimit: "CALL_LIMIT"
        case .badVerdict: "BAD_VERDICT"
        }
    }

    public var macroName: String { "HVM_FAULT_" + name }

    /// What happened, for people.
    public var explanation: String {
        switch self {
        case .none: "no fault"
        case .invalidAccess:
            "memory access outside a bank or its bounds, to a bad bank, or a write to a read-only bank"
        case .unknownOpcode: "an instruction the VM does not run, or a bad register"
        case .budget: "the activation or packet instruction budget is spent"
        case .stack: "a stack access outside the frame's \(ABI.stackSize) bytes"
        case .depth: "a chain call beyond \(ABI.depthMax) frames"
        case .unknownCallee: "an empty program slot, an unknown chain, or an ID that is neither"
        case .badJump: "the pc left the chain"
        case .callLimit: "more than \(ABI.progCallsMax) program calls in one packet"
        case .badVerdict: "a program returned neither an XDP verdict nor HIKE_XDP_VM"
        }
    }

    public var description: String { "\(name) (\(explanation))" }
}
