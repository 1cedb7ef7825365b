import BPFKit
import HikeVM

/// Byte layouts of vm_abi.h's structs, for the maps the runtime reads and writes.
enum Layout {
    /// `struct hvm_chain`: id, ninsn, flags, reserved, then HVM_CHAIN_INSNS_MAX instruction slots.
    static let chainHeaderSize = 16
    static var chainValueSize: Int { chainHeaderSize + Int(ABI.chainInsnsMax) * 8 }

    static func encodeChain(id: UInt32, instructions: [BPFInstruction]) -> [UInt8] {
        let code = instructions.encoded()
        let slots = code.count / 8
        var value = [UInt8](repeating: 0, count: chainValueSize)
        put(id, into: &value, at: 0)
        put(UInt16(slots), into: &value, at: 4)
        value.replaceSubrange(chainHeaderSize..<chainHeaderSize + code.count, with: code)
        return value
    }

    static func decodeChain(_ value: [UInt8]) throws -> (id: UInt32, instructions: [BPFInstruction]) {
        guard value.count >= chainHeaderSize else { throw RuntimeError.registry("a chain slot is \(value.count) bytes") }
        let id = u32(value, 0)
        let slots = min(Int(UInt16(value[4]) | UInt16(value[5]) << 8), Int(ABI.chainInsnsMax))
        let code = Array(value[chainHeaderSize..<chainHeaderSize + slots * 8])
        return (id, try BPFInstruction.decode(code))
    }

    /// `struct hvm_loader_config`.
    static func encodeLoaderConfig(chainID: UInt32, defaultVerdict: UInt32) -> [UInt8] {
        var value = [UInt8](repeating: 0, count: 8)
        put(chainID, into: &value, at: 0)
        put(defaultVerdict, into: &value, at: 4)
        return value
    }

    /// `struct hvm_result` sits after six u32 fields of `struct hvm_state`.
    static let resultOffset = 24

    static func u16(_ bytes: [UInt8], _ at: Int) -> UInt16 {
        UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8
    }

    static func u32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
    }

    static func u64(_ bytes: [UInt8], _ at: Int) -> UInt64 {
        UInt64(u32(bytes, at)) | UInt64(u32(bytes, at + 4)) << 32
    }

    static func put<T: FixedWidthInteger>(_ value: T, into bytes: inout [UInt8], at: Int) {
        for i in 0..<MemoryLayout<T>.size { bytes[at + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
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
