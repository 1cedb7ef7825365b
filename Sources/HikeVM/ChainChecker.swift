// Static checks of a linked chain before it is installed.
//
// The VM guards everything at run time (a bad chain faults, it cannot harm the kernel); the checker
// exists to turn those faults into clear errors at install time: the pc, the instruction's text
// and what to fix. It uses the VM's own decoder, so "an opcode the VM runs" cannot drift.

import BPFInstructions
import HikeErrors

/// One problem of a chain.
public struct ChainCheckIssue: Hashable, Sendable, CustomStringConvertible {
    /// Slot index of the instruction.
    public var pc: Int
    /// Its text (objdump's, or `.insn` for a slot without one); empty for whole-chain issues.
    public var instruction: String
    public var message: String

    public var description: String {
        instruction.isEmpty ? message : "pc \(pc): '\(instruction)': \(message)"
    }
}

/// The problems of a chain, all of them.
public struct ChainCheckError: Error, Hashable, Sendable, CustomStringConvertible {
    public var chain: String
    public var issues: [ChainCheckIssue]

    public var description: String {
        "chain \(chain): \(issues.count) problem\(issues.count == 1 ? "" : "s")\n"
            + issues.map { "  " + $0.description }.joined(separator: "\n")
    }
}

public struct ChainChecker: Sendable {
    /// Program and chain IDs that are installed (or will be, with this chain).
    public var knownIDs: Set<UInt32>
    /// Names for messages (optional).
    public var names: [UInt32: String]
    /// Programs that always end the chain with a verdict (hike_pass …): a chain may end calling one.
    public var finalIDs: Set<UInt32>

    public init(knownIDs: Set<UInt32>, names: [UInt32: String] = [:], finalIDs: Set<UInt32> = []) {
        self.knownIDs = knownIDs
        self.names = names
        self.finalIDs = finalIDs
    }

    /// Throws every problem of the chain at once.
    public func check(_ instructions: [BPFInstruction], chain: String = "chain") throws(ChainCheckError) {
        let issues = self.issues(instructions)
        if !issues.isEmpty { throw ChainCheckError(chain: chain, issues: issues) }
    }

    /// Every problem of the chain (empty when it is fine).
    public func issues(_ instructions: [BPFInstruction]) -> [ChainCheckIssue] {
        var issues: [ChainCheckIssue] = []
        let slots = VMSlot.slots(instructions)
        let count = slots.count
        if count == 0 {
            return [ChainCheckIssue(pc: 0, instruction: "", message: "the chain is empty; end it with 'exit'")]
        }
        if count > Int(ABI.chainInsnsMax) {
            issues.append(ChainCheckIssue(
                pc: 0, instruction: "",
                message: "the chain takes \(count) instruction slots, more than HVM_CHAIN_INSNS_MAX (\(ABI.chainInsnsMax)); "
                    + "split it into chains that call each other"))
        }

        // Where instructions start, and the second slots of LD_IMM64s.
        var starts: [Int] = []
        var secondSlots = Set<Int>()
        var pc = 0
        for insn in instructions {
            starts.append(pc)
            if insn.isWide { secondSlots.insert(pc + 1) }
            pc += insn.slotCount
        }

        var previous: VMOperation?
        for (index, insn) in instructions.enumerated() {
            let pc = starts[index]
            let text = Self.text(insn)
            func report(_ message: String) {
                issues.append(ChainCheckIssue(pc: pc, instruction: text, message: message))
            }
            let op = VMDecoder.decode(slots, at: pc)
            switch op {
            case .invalid(let reason):
                report("the HIKe VM does not run this: \(reason)")
            case .jump(_, _, _, _, let offset), .ja(let offset):
                let target = pc + 1 + Int(offset)
                if target < 0 || target >= count {
                    report("jumps to slot \(target), outside the chain (slots 0–\(count - 1)); jump to an instruction of the chain")
                } else if secondSlots.contains(target) {
                    report("jumps to slot \(target), the second half of an LD_IMM64; jump to the LD_IMM64 itself (slot \(target - 1)) or after it")
                }
            case .callElement:
                if let previous, let id = Self.constantR1(previous) {
                    if let problem = calleeProblem(id) { report(problem) }
                }
            default:
                break
            }
            previous = op
        }

        // The last instruction must not fall off the end.
        if let last = instructions.last, let lastStart = starts.last {
            let lastOp = VMDecoder.decode(slots, at: lastStart)
            let previousOp = instructions.count >= 2 ? VMDecoder.decode(slots, at: starts[starts.count - 2]) : nil
            let endsInFinalCall: Bool = {
                guard case .callElement = lastOp, let previousOp, let id = Self.constantR1(previousOp) else { return false }
                return id >> 32 == 0 && finalIDs.contains(UInt32(id))
            }()
            switch lastOp {
            case .exit, .ja:
                break
            case .invalid:
                break  // already reported
            case _ where endsInFinalCall:
                break  // the program ends the packet's chain
            default:
                issues.append(ChainCheckIssue(
                    pc: lastStart, instruction: Self.text(last),
                    message: "the chain ends without 'exit', an unconditional jump or a call to a final program (hike_pass, hike_drop …), so the pc would run off its end; add 'exit'"))
            }
        }
        return issues
    }

    /// `r1 = K` (mov64, mov32 or LD_IMM64): the element ID a following call uses.
    static func constantR1(_ op: VMOperation) -> UInt64? {
        switch op {
        case let .alu(.mov, wide, 1, .imm(value)): wide ? value : value & 0xffff_ffff
        case let .ldImm64(1, value): value
        default: nil
        }
    }

    /// Why calling `id` cannot work, or nil.
    func calleeProblem(_ id: UInt64) -> String? {
        let hex = "0x" + String(id, radix: 16)
        if id < UInt64(ABI.progTableSize) {
            return knownIDs.contains(UInt32(id)) ? nil
                : "calls program \(id), which is not installed (empty program table slot); load it or call a known program"
        }
        if id >> 32 == 0, UInt32(id) & ABI.chainFlag != 0 {
            return knownIDs.contains(UInt32(id)) ? nil
                : "calls chain \(hex), which is not installed; install it first or call a known chain"
        }
        return "calls ID \(hex), which is neither a program (< \(ABI.progTableSize)) nor a chain (bit 30 set); "
            + "put a program or chain ID in r1"
    }

    static func text(_ insn: BPFInstruction) -> String {
        let text = insn.description
        return text == "<unknown>" ? ChainDisassembler.raw(insn) : text
    }
}

extension ChainCheckError: HikeError {
    public var code: String { "chain.check" }
    public var message: String { description }
}
