// Models of the eBPF programs the tests install in the program table. The C programs (written by
// hand next to the kernel VM) must do exactly what these do; the differential tests compare them.

import BPFInstructions
import HikeVM

/// Models of `hike_pass`, `hike_drop` and the `test_*` programs.
public enum ReferencePrograms {
    /// The value `test_verdict` returns for an argument that is neither a verdict nor 104:
    /// HIKE_XDP_VM + 1, a fixed bad verdict (a truncated argument could alias a real verdict).
    public static let badVerdictValue: UInt32 = ABI.hikeXDPVM + 1

    /// `hike_pass`: XDP_PASS.
    public static let hikePass = ClosureProgram { _, _, _, _ in .verdict(ABI.xdpPass) }

    /// `hike_drop`: XDP_DROP.
    public static let hikeDrop = ClosureProgram { _, _, _, _ in .verdict(ABI.xdpDrop) }

    /// `test_add`: r0 = r2 + r3 (wrapping); continue.
    public static let testAdd = ClosureProgram { _, args, _, _ in .continueChain(args.r2 &+ args.r3) }

    /// `test_xor_pkt`: off = r2, v = r3. If off ≤ HVM_PACKET_MAX and off < the packet length,
    /// packet[off] ^= low byte of v and r0 = the new byte; otherwise r0 = UInt64.max. Continue.
    public static let testXorPacket = ClosureProgram { _, args, packet, _ in
        let offset = args.r2
        guard offset <= UInt64(ABI.packetMax), offset < UInt64(packet.count) else { return .continueChain(UInt64.max) }
        let index = Int(offset)
        packet[index] ^= UInt8(truncatingIfNeeded: args.r3)
        return .continueChain(UInt64(packet[index]))
    }

    /// `test_verdict`: v = r2 (all 64 bits). v ≤ 4: the verdict v. v == 104: continue with
    /// r0 = 104. Otherwise it returns `badVerdictValue`, which faults BAD_VERDICT.
    public static let testVerdict = ClosureProgram { _, args, _, _ in
        let value = args.r2
        if value <= UInt64(ABI.verdictMax) { return .verdict(UInt32(value)) }
        if value == UInt64(ABI.hikeXDPVM) { return .continueChain(UInt64(ABI.hikeXDPVM)) }
        return .verdict(badVerdictValue)
    }

    /// `test_shmem`: off = r2 & 0xff8; the little-endian u64 at shared memory[off] += 1
    /// (wrapping); r0 = the new value. Continue.
    public static let testSharedMemory = ClosureProgram { _, args, _, shmem in
        let offset = Int(args.r2 & 0xff8)
        guard offset + 8 <= shmem.count else { return .continueChain(0) }  // shmem is always 4096 bytes
        var value: UInt64 = 0
        for index in stride(from: 7, through: 0, by: -1) { value = value << 8 | UInt64(shmem[offset + index]) }
        value &+= 1
        for index in 0..<8 { shmem[offset + index] = UInt8(truncatingIfNeeded: value >> UInt64(index * 8)) }
        return .continueChain(value)
    }

    /// Every model by its program name.
    public static let byName: [String: any ProgramModel] = [
        "hike_pass": hikePass,
        "hike_drop": hikeDrop,
        "test_add": testAdd,
        "test_xor_pkt": testXorPacket,
        "test_verdict": testVerdict,
        "test_shmem": testSharedMemory,
    ]

    /// The program names in a stable order (the default IDs are their indexes).
    public static let names = ["hike_pass", "hike_drop", "test_add", "test_xor_pkt", "test_verdict", "test_shmem"]

    /// The default program table: `names[i]` at ID i.
    public static let defaultIDs: [String: UInt32] = Dictionary(
        uniqueKeysWithValues: names.enumerated().map { ($0.element, UInt32($0.offset)) })

    /// The program table for these IDs (names without a model are skipped).
    public static func table(ids: [String: UInt32] = defaultIDs) -> [UInt32: any ProgramModel] {
        var table: [UInt32: any ProgramModel] = [:]
        for (name, id) in ids {
            if let model = byName[name] { table[id] = model }
        }
        return table
    }
}
