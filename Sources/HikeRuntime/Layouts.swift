import BPFInstructions
import BPFKit
import HikeVM
import NetKit

/// vm_abi.h's map values as Swift values. Their coding keys are the C member names; the map's
/// BTF lays them out (BTFCoding), so no offset is written here.

/// `struct hvm_insn`: one 8-byte instruction slot, the kernel's `struct bpf_insn`.
struct VMInstructionSlot: Codable, Sendable {
    var code: UInt8
    var regs: UInt8
    var off: Int16
    var imm: Int32

    static let empty = VMInstructionSlot(code: 0, regs: 0, off: 0, imm: 0)

    /// The slot's 8 bytes (little-endian off and imm, as bpf_insn).
    var bytes: [UInt8] {
        var out = [code, regs]
        withUnsafeBytes(of: off.littleEndian) { out += $0 }
        withUnsafeBytes(of: imm.littleEndian) { out += $0 }
        return out
    }
}

/// `struct hvm_chain`: a chain in its slot of hvm_chains.
struct VMChainSlot: Codable, Sendable {
    var id: UInt32
    var ninsn: UInt16
    var flags: UInt16 = 0
    var reserved: UInt64 = 0
    /// All HVM_CHAIN_INSNS_MAX slots, bpf_insn's wire form (BPFInstructions' codec); those from
    /// ninsn on are zero. A wide LD_IMM64 takes two slots.
    var code: [UInt8]

    enum CodingKeys: String, CodingKey { case id, ninsn, flags, reserved, insns }

    init(id: UInt32, instructions: [BPFInstruction]) {
        let used = instructions.encoded()
        self.id = id
        self.ninsn = UInt16(used.count / 8)
        self.code = used + [UInt8](repeating: 0, count: max(Int(ABI.chainInsnsMax) * 8 - used.count, 0))
    }

    var instructions: [BPFInstruction] {
        get throws { try BPFInstruction.decode(Array(code.prefix(Int(ninsn) * 8))) }
    }

    /// The slots go out as one hex string of the array's exact size, which the BTF codec takes
    /// for any array: 512 instruction objects would cost a chain install more than its syscalls.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(ninsn, forKey: .ninsn)
        try container.encode(flags, forKey: .flags)
        try container.encode(reserved, forKey: .reserved)
        try container.encode(Layout.hex(code), forKey: .insns)
    }

    /// They come back as the codec reads `struct hvm_insn`: one object per slot.
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(UInt32.self, forKey: .id)
        ninsn = try container.decode(UInt16.self, forKey: .ninsn)
        flags = try container.decode(UInt16.self, forKey: .flags)
        reserved = try container.decode(UInt64.self, forKey: .reserved)
        code = try container.decode([VMInstructionSlot].self, forKey: .insns).flatMap(\.bytes)
    }
}

/// `struct hvm_loader_config`: value 0 of a loader's `<loader>_cfg` map.
public struct LoaderConfigEntry: Codable, Sendable {
    public var chainID: UInt32
    public var defaultVerdict: UInt32

    public init(chainID: UInt32, defaultVerdict: UInt32) {
        self.chainID = chainID
        self.defaultVerdict = defaultVerdict
    }

    enum CodingKeys: String, CodingKey { case chainID = "chain_id", defaultVerdict = "default_verdict" }
}

/// `struct hvm_fault_key`: hvm_faults counts by chain and reason.
struct FaultKey: Codable, Sendable, Hashable {
    var chainID: UInt32
    var reason: UInt32

    enum CodingKeys: String, CodingKey { case chainID = "chain_id", reason }
}

/// `struct hvm_result`, the `last` member of `struct hvm_state`.
struct VMResultEntry: Codable, Sendable {
    var r0: UInt64
    var verdict: UInt32
    var fault: UInt32
    var chainID: UInt32
    var pc: UInt32
    var sequence: UInt64

    enum CodingKeys: String, CodingKey { case r0, verdict, fault, chainID = "chain_id", pc, sequence }
}

/// An LPM trie key of the loaders (`struct ip6_lpm_key`, `struct srv6_lpm6_key`,
/// `struct srv6_lpm4_key`): the prefix length, then the address.
public struct LPMKey<Address: AddressText & Sendable>: Codable, Sendable {
    public var prefixlen: UInt32
    public var addr: Address

    public init(prefixlen: UInt32, addr: Address) {
        self.prefixlen = prefixlen
        self.addr = addr
    }
}

/// Little-endian reads of ring-buffer records (not map values: they carry no BTF of their
/// own).
enum Layout {
    static func u16(_ bytes: [UInt8], _ at: Int) -> UInt16 {
        UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8
    }

    static func u32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
    }

    static func u64(_ bytes: [UInt8], _ at: Int) -> UInt64 {
        UInt64(u32(bytes, at)) | UInt64(u32(bytes, at + 4)) << 32
    }

    /// Lower-case hex digits of bytes.
    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// How the last packet on one CPU left the VM (`struct hvm_result`).
public struct VMResult: Codable, Sendable, Hashable {
    public let cpu: Int
    public let r0: UInt64
    public let verdict: UInt32
    public let fault: UInt32
    public let chainID: UInt32
    public let pc: UInt32
    /// Packets that ran a chain on this CPU.
    public let sequence: UInt64
}

/// A fault the VM reported through the hvm_events ring buffer (`struct hvm_event`).
public struct FaultEvent: Codable, Sendable, Hashable {
    public let timestampNanoseconds: UInt64
    public let chainID: UInt32
    public let pc: UInt32
    public let reason: UInt32
    public let packetLength: UInt32
    public let depth: UInt32
    public let cpu: UInt32

    init?(record: [UInt8]) {
        guard record.count >= 32 else { return nil }
        timestampNanoseconds = Layout.u64(record, 0)
        chainID = Layout.u32(record, 8)
        pc = Layout.u32(record, 12)
        reason = Layout.u32(record, 16)
        packetLength = Layout.u32(record, 20)
        depth = Layout.u32(record, 24)
        cpu = Layout.u32(record, 28)
    }
}

/// Packets that faulted in one chain for one reason, over all CPUs.
public struct FaultCount: Codable, Sendable, Hashable {
    public let chainID: UInt32
    public let reason: UInt32
    public let count: UInt64

    public init(chainID: UInt32, reason: UInt32, count: UInt64) {
        self.chainID = chainID
        self.reason = reason
        self.count = count
    }
}
