// Code generation for one chain. See the register conventions at the top of Compiler.swift.

import BPFInstructions
import HikeVM

enum Value {
    /// An untyped constant, in s64 two's complement.
    case constant(UInt64)
    /// Temporary number `index` holding a value of `type` in its 64-bit register form.
    case temp(Int, IntType)
}

enum Operand {
    case reg(BPFRegister)
    case imm(Int32)
}

enum Home {
    case reg(BPFRegister)
    case stack(Int16)
}

struct Variable {
    var type: IntType
    var home: Home
}

struct Emitted {
    var insn: BPFInstruction
    var line: Int
    var label: Int?
}

struct CodeGenerator {
    var script: ScriptCompiler
    let chain: ChainDef
    var code: [Emitted] = []
    var labels: [Int?] = []
    var homes: [String: Home] = [:]
    var variables: [String: Variable] = [:]
    var localConstants: [String: UInt64] = [:]
    /// Chain-level string constants: names only (a string is no value in a chain).
    var localStrings: Set<String> = []
    var stackVariables = 0
    var depth = 0
    var line: Int
    var calls: [(String, SourceLocation)] = []
    var loops: [(exit: Int, next: Int)] = []
    var relocations: [(index: Int, symbol: String, location: SourceLocation)] = []
    var stackOverflowReported = false

    /// Temporaries 0–3 live in these; the rest in stack slots.
    static let pool: [BPFRegister] = [.r1, .r2, .r3, .r4]
    static let variableRegisters: [BPFRegister] = [.r6, .r7, .r8, .r9]

    init(script: ScriptCompiler, chain: ChainDef) {
        self.script = script
        self.chain = chain
        line = chain.location.line
    }

    mutating func error(_ location: SourceLocation, _ message: String) { script.error(location, message) }

    // MARK: Layout

    /// Gives every variable of the chain a home: r6–r9 in order of declaration, then the stack.
    mutating func assignHomes() {
        var names: [String] = chain.parameters.map(\.name)
        func collect(_ statements: [Stmt]) {
            for statement in statements {
                switch statement {
                case .declare(_, let name, _, _): names.append(name)
                case .forRange(let name, _, _, let body, _): names.append(name); collect(body)
                case .ifElse(let branches, let elseBody, _):
                    for (_, body) in branches { collect(body) }
                    collect(elseBody ?? [])
                case .whileLoop(_, let body, _): collect(body)
                default: break
                }
            }
        }
        collect(chain.body)
        for name in names where homes[name] == nil {
            let count = homes.count
            if count < Self.variableRegisters.count {
                homes[name] = .reg(Self.variableRegisters[count])
            } else {
                homes[name] = .stack(stackOffset(stackVariables))
                stackVariables += 1
            }
        }
    }

    /// The r10-relative offset of 8-byte stack slot `index`.
    mutating func stackOffset(_ index: Int) -> Int16 {
        if index >= Int(ABI.stackSize) / 8 {
            if !stackOverflowReported {
                error(chain.location, "chain '\(chain.name)' needs more than the VM's \(ABI.stackSize) bytes of stack for its variables and temporaries")
                stackOverflowReported = true
            }
            return -8
        }
        return Int16(-8 * (index + 1))
    }

    mutating func tempSlot(_ index: Int) -> Int16 { stackOffset(stackVariables + index) }

    // MARK: Emission

    mutating func emit(_ insn: BPFInstruction, label: Int? = nil) {
        code.append(Emitted(insn: insn, line: line, label: label))
    }

    mutating func newLabel() -> Int {
        labels.append(nil)
        return labels.count - 1
    }

    mutating func place(_ label: Int) { labels[label] = code.count }

    mutating func jump(to label: Int) { emit(.ja(offset: 0), label: label) }

    mutating func setReg(_ reg: BPFRegister, _ bits: UInt64) {
        let signed = Int64(bitPattern: bits)
        if signed >= Int64(Int32.min) && signed <= Int64(Int32.max) {
            emit(.mov64(reg, imm: Int32(signed)))
        } else {
            emit(.ldImm64(dst: reg, imm: signed))
        }
    }

    /// If the last instruction only moved a value into `reg` (and nothing jumps past it), makes
    /// it write `target` instead and returns true: saves the copy from a temp to its destination.
    mutating func retargetLastMove(from reg: BPFRegister, to target: BPFRegister) -> Bool {
        guard let last = code.last, !labels.contains(where: { $0 == code.count }),
              last.insn.aluOp == .mov, last.insn.instructionClass == .alu64 || last.insn.isWide && last.insn.opcode == 0x18,
              last.insn.offset == 0, last.insn.dst == reg.rawValue else { return false }
        if last.insn.instructionClass == .alu64 && last.insn.source == .x && last.insn.src == target.rawValue {
            code.removeLast()  // `target = target`
            return true
        }
        code[code.count - 1].insn.dst = target.rawValue
        return true
    }

    /// True when the code so far cannot fall through (exit or goto) and no jump lands here.
    var endsInJump: Bool {
        guard let last = code.last, !labels.contains(where: { $0 == code.count }) else { return false }
        return last.insn.opcode == BPFInstruction.exit.opcode || last.insn.opcode == BPFInstruction.ja(offset: 0).opcode
    }

    mutating func allocTemp() -> Int {
        let index = depth
        depth += 1
        if index >= Self.pool.count { _ = tempSlot(index) }  // reports a stack overflow early
        return index
    }

    mutating func release(_ value: Value?) {
        if case .temp(let index, _) = value { depth = max(0, min(depth, index)) }
    }

    /// The register holding temp `index`, loading it into `scratch` if it lives on the stack.
    mutating func loadTemp(_ index: Int, _ scratch: BPFRegister) -> BPFRegister {
        if index < Self.pool.count { return Self.pool[index] }
        emit(.load(size: .dw, dst: scratch, src: .r10, offset: tempSlot(index)))
        return scratch
    }

    mutating func storeTemp(_ index: Int, _ reg: BPFRegister) {
        if index < Self.pool.count {
            if Self.pool[index] != reg { emit(.mov64(Self.pool[index], reg)) }
        } else {
            emit(.store(size: .dw, dst: .r10, offset: tempSlot(index), src: reg))
        }
    }

    /// Puts a value into a fresh temp of `type`.
    mutating func materialize(_ value: Value, _ type: IntType) -> Int {
        switch value {
        case .temp(let index, _): return index
        case .constant(let bits):
            let index = allocTemp()
            let reg = index < Self.pool.count ? Self.pool[index] : .r0
            setReg(reg, type.normalize(bits))
            storeTemp(index, reg)
            return index
        }
    }

    /// Brings `reg` back to the register form of `type` after a 64-bit (or, with `after32`, a
    /// 32-bit, already zero-extended) operation.
    mutating func normalize(_ reg: BPFRegister, _ type: IntType, after32: Bool = false) {
        switch type {
        case .u64, .s64: break
        case .u32: if !after32 { emit(.mov32(reg, reg)) }
        case .s32: emit(.movsx64(reg, reg, bits: 32))
        case .u8: emit(.alu64(.and, dst: reg, imm: 0xff))
        case .u16: emit(.alu64(.and, dst: reg, imm: 0xffff))
        case .s8: emit(.movsx64(reg, reg, bits: 8))
        case .s16: emit(.movsx64(reg, reg, bits: 16))
        }
    }

    /// A constant as an operand of an operation at `type` (64-bit immediates are sign-extended).
    mutating func operand(_ bits: UInt64, _ type: IntType, is32: Bool) -> Operand {
        if is32 { return .imm(Int32(truncatingIfNeeded: bits)) }
        let signed = Int64(bitPattern: bits)
        if signed >= Int64(Int32.min) && signed <= Int64(Int32.max) { return .imm(Int32(signed)) }
        setReg(.r5, bits)
        return .reg(.r5)
    }

    static let aluOps: [String: BPFALUOp] = [
        "+": .add, "-": .sub, "*": .mul, "&": .and, "|": .or, "^": .xor, "/": .div, "%": .mod, "<<": .lsh,
    ]

    /// dst = dst op src at `type`, then normalized.
    mutating func arith(_ op: String, _ dst: BPFRegister, _ src: Operand, _ type: IntType) {
        let is32 = type.bits == 32
        var aluOp = Self.aluOps[op] ?? .add
        var src = src
        if op == ">>" { aluOp = type.isSigned ? .arsh : .rsh }
        if (op == "<<" || op == ">>") && type.bits < 32 {
            // The count is taken modulo the type's width (the VM masks only to 31/63).
            switch src {
            case .imm(let count): src = .imm(count & Int32(type.bits - 1))
            case .reg(let reg): emit(.alu64(.and, dst: reg, imm: Int32(type.bits - 1)))
            }
        }
        var insn: BPFInstruction
        switch (src, is32) {
        case (.imm(let value), false): insn = .alu64(aluOp, dst: dst, imm: value)
        case (.imm(let value), true): insn = .alu32(aluOp, dst: dst, imm: value)
        case (.reg(let reg), false): insn = .alu64(aluOp, dst: dst, src: reg)
        case (.reg(let reg), true): insn = .alu32(aluOp, dst: dst, src: reg)
        }
        if (op == "/" || op == "%") && type.isSigned { insn.offset = 1 }  // sdiv, smod
        emit(insn)
        normalize(dst, type, after32: is32)
    }

    // MARK: Output

    mutating func assembled() -> AssembledChain {
        var slots: [Int] = []
        var slot = 0
        for item in code {
            slots.append(slot)
            slot += item.insn.slotCount
        }
        slots.append(slot)
        if slot > Int(ABI.chainInsnsMax) {
            error(chain.location, "chain '\(chain.name)' compiles to \(slot) instruction slots, more than the VM's \(ABI.chainInsnsMax); split it into chains that call each other")
        }
        var instructions: [BPFInstruction] = []
        for (index, item) in code.enumerated() {
            var insn = item.insn
            if let label = item.label {
                let target = labels.indices.contains(label) ? (labels[label] ?? code.count) : code.count
                let distance = slots[min(target, slots.count - 1)] - slots[index] - 1
                insn.offset = Int16(clamping: distance)
            }
            instructions.append(insn)
        }
        let lines = script.sink.lines
        return AssembledChain(
            name: chain.name, file: script.sink.file, instructions: instructions,
            relocations: relocations.map { entry in
                Relocation(index: entry.index, symbol: entry.symbol, line: entry.location.line, column: entry.location.column,
                           sourceText: lines.indices.contains(entry.location.line - 1) ? lines[entry.location.line - 1] : "")
            },
            sourceLines: code.map(\.line))
    }
}
