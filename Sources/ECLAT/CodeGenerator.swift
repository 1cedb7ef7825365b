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

    // MARK: The chain

    mutating func generate() {
        assignHomes()
        var seen = Set<String>()
        for (index, parameter) in chain.parameters.enumerated() {
            if !seen.insert(parameter.name).inserted || script.kindOf(parameter.name) != nil {
                error(parameter.location, "redefinition of '\(parameter.name)'")
                continue
            }
            guard let home = homes[parameter.name], let source = BPFRegister(rawValue: UInt8(2 + index)) else { continue }
            variables[parameter.name] = Variable(type: parameter.type, home: home)
            // Arguments come in r2–r5; bring them to the parameter's type.
            normalize(source, parameter.type)
            store(source, to: home)
        }
        statements(chain.body)
        let endIsTarget = labels.contains { $0 == code.count }
        if endIsTarget || code.last.map({ $0.insn.opcode != BPFInstruction.exit.opcode }) ?? true {
            line = max(line, chain.location.line)
            emit(.mov64(.r0, imm: 0))
            emit(.exit)
        }
    }

    mutating func store(_ reg: BPFRegister, to home: Home) {
        switch home {
        case .reg(let target): if target != reg { emit(.mov64(target, reg)) }
        case .stack(let offset): emit(.store(size: .dw, dst: .r10, offset: offset, src: reg))
        }
    }

    mutating func statements(_ list: [Stmt]) {
        for statement in list { self.statement(statement) }
    }

    func isConstantName(_ name: String) -> Bool {
        !name.unicodeScalars.contains { $0 >= "a" && $0 <= "z" } && name.unicodeScalars.contains { $0 >= "A" && $0 <= "Z" }
    }

    var allConstants: [String: UInt64] { script.constants.merging(localConstants) { _, local in local } }

    func kindOf(_ name: String) -> String? {
        if variables[name] != nil { return "a variable" }
        if localConstants[name] != nil { return "a constant" }
        return script.kindOf(name)
    }

    mutating func statement(_ statement: Stmt) {
        line = statement.location.line
        switch statement {
        case .pass: break
        case .declare(let type, let name, let value, let location):
            var result: Value? = .constant(0)
            if let value { result = gen(value) }
            if let kind = kindOf(name) {
                error(location, "redefinition of '\(name)', already \(kind)")
                release(result)
                return
            }
            guard let home = homes[name] else { return }
            let variable = Variable(type: type, home: home)
            variables[name] = variable
            if let result { assign(result, to: variable) }
        case .assign(let name, let op, let value, let location):
            if let variable = variables[name] {
                let expression = op.map { Expr.binary($0, .name(name, location), value, location) } ?? value
                if let result = gen(expression) { assign(result, to: variable) }
                return
            }
            if op == nil && isConstantName(name) && kindOf(name) == nil {
                var evaluator = ConstantEvaluator(constants: allConstants)
                if let constant = evaluator.evaluate(value) {
                    localConstants[name] = constant
                } else {
                    error(value.location, "the constant '\(name)' needs a constant value; to make a variable, declare it: 'u64 : \(name) = …'")
                }
                return
            }
            if let kind = kindOf(name) {
                error(location, kind == "a constant" ? "redefinition of constant '\(name)'" : "cannot assign to '\(name)', \(kind)")
            } else {
                error(location, "undefined variable '\(name)'; declare it first, e.g. 'u64 : \(name) = …'")
            }
        case .expression(let expression, let location):
            guard case .call = expression else {
                error(location, "this expression does nothing; only calls can stand alone as statements")
                return
            }
            let result = gen(expression)
            if case .temp(let index, _) = result, index < Self.pool.count, let last = code.last,
               !labels.contains(where: { $0 == code.count }), last.insn == .mov64(Self.pool[index], .r0) {
                code.removeLast()  // the call's result is not used
            }
            release(result)
        case .returnValue(let value, _):
            if let value, let result = gen(value) {
                switch result {
                case .constant(let bits): setReg(.r0, bits)
                case .temp(let index, _):
                    let reg = loadTemp(index, .r0)
                    if reg != .r0 && !retargetLastMove(from: reg, to: .r0) { emit(.mov64(.r0, reg)) }
                    release(result)
                }
            } else {
                emit(.mov64(.r0, imm: 0))
            }
            emit(.exit)
        case .ifElse(let branches, let elseBody, _):
            let end = newLabel()
            for (position, (condition, body)) in branches.enumerated() {
                line = condition.location.line
                let next = newLabel()
                branch(condition, jumpWhen: false, to: next)
                statements(body)
                let isLast = position == branches.count - 1 && elseBody == nil
                if !isLast && !endsInJump { jump(to: end) }
                place(next)
            }
            statements(elseBody ?? [])
            place(end)
        case .whileLoop(let condition, let body, _):
            let top = newLabel(), end = newLabel()
            place(top)
            branch(condition, jumpWhen: false, to: end)
            loops.append((end, top))
            statements(body)
            loops.removeLast()
            line = statement.location.line
            jump(to: top)
            place(end)
        case .forRange(let name, let nameLocation, let args, let body, let location):
            forRange(name, nameLocation, args, body, location)
        case .breakLoop(let location), .continueLoop(let location):
            guard let loop = loops.last else {
                error(location, "'\(statementKeyword(statement))' outside a loop")
                return
            }
            if case .breakLoop = statement { jump(to: loop.exit) } else { jump(to: loop.next) }
        }
    }

    func statementKeyword(_ statement: Stmt) -> String {
        if case .breakLoop = statement { return "break" }
        return "continue"
    }

    mutating func forRange(_ name: String, _ nameLocation: SourceLocation, _ args: [Expr], _ body: [Stmt], _ location: SourceLocation) {
        guard args.count == 1 || args.count == 2 else {
            error(location, "range takes one or two constant bounds: range(N) or range(START, STOP)")
            return
        }
        var bounds: [UInt64] = []
        for arg in args {
            var evaluator = ConstantEvaluator(constants: allConstants)
            guard let value = evaluator.evaluate(arg) else {
                error(arg.location, "the loop bound must be a constant (the VM's instruction budget bounds every loop)")
                return
            }
            bounds.append(value)
        }
        let start = bounds.count == 2 ? bounds[0] : 0
        let stop = bounds.count == 2 ? bounds[1] : bounds[0]
        if variables[name] == nil {
            if let kind = kindOf(name) {
                error(nameLocation, "the loop variable '\(name)' is already \(kind)")
                return
            }
            guard let home = homes[name] else { return }
            variables[name] = Variable(type: .u64, home: home)
        }
        guard let variable = variables[name] else { return }
        for bound in [start, stop] where !Semantics.fits(bound, variable.type) {
            error(location, "the bound \(Int64(bitPattern: bound)) does not fit the loop variable's type \(variable.type)")
            return
        }
        assign(.constant(start), to: variable)
        let top = newLabel(), next = newLabel(), end = newLabel()
        place(top)
        let reg = loadVariable(variable, .r0)
        let limit = operand(variable.type.normalize(stop), variable.type, is32: false)
        emitCompare(variable.type.isSigned ? .jsge : .jge, reg, limit, to: end)
        loops.append((end, next))
        statements(body)
        loops.removeLast()
        line = location.line
        place(next)
        let counter = loadVariable(variable, .r0)
        arith("+", counter, .imm(1), variable.type)
        store(counter, to: variable.home)
        jump(to: top)
        place(end)
    }

    /// A register holding the variable: its home register, or `scratch` loaded from the stack.
    mutating func loadVariable(_ variable: Variable, _ scratch: BPFRegister) -> BPFRegister {
        switch variable.home {
        case .reg(let reg): return reg
        case .stack(let offset):
            emit(.load(size: .dw, dst: scratch, src: .r10, offset: offset))
            return scratch
        }
    }

    mutating func assign(_ value: Value, to variable: Variable) {
        switch value {
        case .constant(let bits):
            let normalized = variable.type.normalize(bits)
            switch variable.home {
            case .reg(let reg): setReg(reg, normalized)
            case .stack: setReg(.r0, normalized); store(.r0, to: variable.home)
            }
        case .temp(let index, let type):
            let reg = loadTemp(index, .r0)
            if type != variable.type { normalize(reg, variable.type) }  // assignment converts
            if case .reg(let home) = variable.home, retargetLastMove(from: reg, to: home) {
                release(value)
                return
            }
            store(reg, to: variable.home)
            release(value)
        }
    }

    // MARK: Expressions

    func tryConstant(_ expr: Expr) -> UInt64? {
        var evaluator = ConstantEvaluator(constants: allConstants)
        return evaluator.evaluate(expr)
    }

    static let comparisons: Set<String> = ["==", "!=", "<", "<=", ">", ">="]

    mutating func gen(_ expr: Expr) -> Value? {
        if let constant = tryConstant(expr) { return .constant(constant) }
        switch expr {
        case .integer(let value, _): return .constant(value)
        case .string(_, let location), .dict(_, let location):
            error(location, "a string or map is not a value in a chain")
            return nil
        case .tuple(_, let location):
            error(location, "a tuple is not a value in a chain")
            return nil
        case .name(let name, let location):
            if let variable = variables[name] {
                let index = allocTemp()
                switch variable.home {
                case .reg(let reg): storeTemp(index, reg)
                case .stack(let offset):
                    let target = index < Self.pool.count ? Self.pool[index] : .r0
                    emit(.load(size: .dw, dst: target, src: .r10, offset: offset))
                    storeTemp(index, target)
                }
                return .temp(index, variable.type)
            }
            if let kind = kindOf(name) {
                error(location, "'\(name)' is \(kind), not a value" + (kind == "a chain" || kind == "an imported program" ? "; call it: \(name)(…)" : ""))
            } else if homes[name] != nil {
                error(location, "'\(name)' is used before its declaration")
            } else {
                error(location, "undefined name '\(name)'")
            }
            return nil
        case .unary(let op, let operand, _):
            if op == "not" { return booleanValue(expr) }
            guard let value = gen(operand) else { return nil }
            guard case .temp(let index, let type) = value else { return value }
            let reg = loadTemp(index, .r0)
            if op == "-" {
                emit(type.bits == 32 ? .neg32(reg) : .neg64(reg))
                normalize(reg, type, after32: type.bits == 32)
            } else {
                emit(.alu64(.xor, dst: reg, imm: -1))
                normalize(reg, type)
            }
            storeTemp(index, reg)
            return value
        case .binary(let op, let left, let right, let location):
            if Self.comparisons.contains(op) || op == "and" || op == "or" { return booleanValue(expr) }
            return arithmetic(op, left, right, location)
        case .call(let object, let name, let args, let location):
            return call(object: object, name: name, args: args, location: location)
        }
    }

    /// 0 or 1 (u64) for comparisons and logic.
    mutating func booleanValue(_ expr: Expr) -> Value? {
        let isFalse = newLabel(), end = newLabel()
        let before = script.sink.diagnostics.count
        branch(expr, jumpWhen: false, to: isFalse)
        let index = allocTemp()
        let reg = index < Self.pool.count ? Self.pool[index] : .r0
        emit(.mov64(reg, imm: 1))
        storeTemp(index, reg)
        jump(to: end)
        place(isFalse)
        emit(.mov64(reg, imm: 0))
        storeTemp(index, reg)
        place(end)
        if script.sink.diagnostics.count > before {
            release(.temp(index, .u64))
            return nil
        }
        return .temp(index, .u64)
    }

    /// The common type of two operands, or nil after an error.
    mutating func unify(_ op: String, _ left: Value, _ right: Value, _ location: SourceLocation) -> IntType? {
        switch (left, right) {
        case (.temp(_, let a), .temp(_, let b)):
            if a == b { return a }
            error(location, "type mismatch: '\(op)' between \(a) and \(b); convert one side, e.g. \(a)(…)")
            return nil
        case (.temp(_, let type), .constant(let bits)), (.constant(let bits), .temp(_, let type)):
            if Semantics.fits(bits, type) { return type }
            error(location, "the constant \(Int64(bitPattern: bits)) does not fit \(type)")
            return nil
        case (.constant, .constant): return .s64
        }
    }

    mutating func arithmetic(_ op: String, _ leftExpr: Expr, _ rightExpr: Expr, _ location: SourceLocation) -> Value? {
        let leftValue = gen(leftExpr)
        let rightValue = gen(rightExpr)
        guard let left = leftValue, let right = rightValue else {
            release(leftValue)
            release(rightValue)
            return nil
        }
        let isShift = op == "<<" || op == ">>"
        switch (left, right) {
        case (.constant(let a), .constant(let b)):
            return .constant(Semantics.binary(op, a, b, type: .s64))
        case (.temp(let index, let type), .constant(let bits)):
            if !isShift && !Semantics.fits(bits, type) {
                error(location, "the constant \(Int64(bitPattern: bits)) does not fit \(type)")
                release(left)
                return nil
            }
            let reg = loadTemp(index, .r0)
            let value = isShift ? bits & UInt64(type.bits - 1) : type.normalize(bits)
            arith(op, reg, operand(value, type, is32: type.bits == 32), type)
            storeTemp(index, reg)
            return left
        case (.constant(let bits), .temp(let index, let rightType)):
            // A constant shifted by a variable count is u64; otherwise the constant takes the
            // other operand's type.
            let type = isShift ? IntType.u64 : rightType
            if !isShift && !Semantics.fits(bits, type) {
                error(location, "the constant \(Int64(bitPattern: bits)) does not fit \(type)")
                release(right)
                return nil
            }
            let count = loadTemp(index, .r0)
            setReg(.r5, type.normalize(bits))
            arith(op, .r5, .reg(count), type)
            storeTemp(index, .r5)
            return .temp(index, type)
        case (.temp(let index, let leftType), .temp(let rightIndex, let rightType)):
            if !isShift && leftType != rightType {
                error(location, "type mismatch: '\(op)' between \(leftType) and \(rightType); convert one side, e.g. \(leftType)(…)")
                release(left)
                return nil
            }
            let a = loadTemp(index, .r0)
            let b = loadTemp(rightIndex, .r5)
            arith(op, a, .reg(b), leftType)
            storeTemp(index, a)
            release(right)
            return left
        }
    }

    static let jumpOps: [String: (unsigned: BPFJumpOp, signed: BPFJumpOp)] = [
        "==": (.jeq, .jeq), "!=": (.jne, .jne), "<": (.jlt, .jslt), "<=": (.jle, .jsle), ">": (.jgt, .jsgt), ">=": (.jge, .jsge),
    ]
    static let negated = ["==": "!=", "!=": "==", "<": ">=", ">=": "<", "<=": ">", ">": "<="]
    static let swapped = ["==": "==", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="]

    mutating func emitCompare(_ op: BPFJumpOp, _ reg: BPFRegister, _ operand: Operand, to label: Int) {
        switch operand {
        case .imm(let value): emit(.jump(op, dst: reg, imm: value, offset: 0), label: label)
        case .reg(let other): emit(.jump(op, dst: reg, src: other, offset: 0), label: label)
        }
    }

    /// Jumps to `label` when `expr` is true (`jumpWhen`) or false; falls through otherwise.
    mutating func branch(_ expr: Expr, jumpWhen: Bool, to label: Int) {
        if let constant = tryConstant(expr) {
            if (constant != 0) == jumpWhen { jump(to: label) }
            return
        }
        switch expr {
        case .binary(let op, let left, let right, let location) where Self.comparisons.contains(op):
            compare(jumpWhen ? op : (Self.negated[op] ?? op), written: op, left, right, location, to: label)
        case .binary("and", let left, let right, _):
            if jumpWhen {
                let skip = newLabel()
                branch(left, jumpWhen: false, to: skip)
                branch(right, jumpWhen: true, to: label)
                place(skip)
            } else {
                branch(left, jumpWhen: false, to: label)
                branch(right, jumpWhen: false, to: label)
            }
        case .binary("or", let left, let right, _):
            if jumpWhen {
                branch(left, jumpWhen: true, to: label)
                branch(right, jumpWhen: true, to: label)
            } else {
                let skip = newLabel()
                branch(left, jumpWhen: true, to: skip)
                branch(right, jumpWhen: false, to: label)
                place(skip)
            }
        case .unary("not", let operand, _):
            branch(operand, jumpWhen: !jumpWhen, to: label)
        default:
            guard let value = gen(expr) else { return }
            switch value {
            case .constant(let bits): if (bits != 0) == jumpWhen { jump(to: label) }
            case .temp(let index, _):
                let reg = loadTemp(index, .r0)
                emit(.jump(jumpWhen ? .jne : .jeq, dst: reg, imm: 0, offset: 0), label: label)
                release(value)
            }
        }
    }

    /// Jumps to `label` when `left op right`.
    mutating func compare(_ op: String, written: String, _ leftExpr: Expr, _ rightExpr: Expr, _ location: SourceLocation, to label: Int) {
        // A variable in a register against a constant: compare the register itself.
        if case .name(let name, _) = leftExpr, let variable = variables[name], case .reg(let home) = variable.home,
           let constant = tryConstant(rightExpr) {
            guard Semantics.fits(constant, variable.type) else {
                error(location, "the constant \(Int64(bitPattern: constant)) does not fit \(variable.type)")
                return
            }
            let pair = Self.jumpOps[op] ?? (.jeq, .jeq)
            emitCompare(variable.type.isSigned ? pair.signed : pair.unsigned, home,
                        operand(variable.type.normalize(constant), variable.type, is32: false), to: label)
            return
        }
        let leftValue = gen(leftExpr)
        let rightValue = gen(rightExpr)
        guard let left = leftValue, let right = rightValue else {
            release(leftValue)
            release(rightValue)
            return
        }
        defer {
            release(right)
            release(left)
        }
        guard let type = unify(written, left, right, location) else { return }
        func jumpOp(_ op: String) -> BPFJumpOp {
            let pair = Self.jumpOps[op] ?? (.jeq, .jeq)
            return type.isSigned ? pair.signed : pair.unsigned
        }
        switch (left, right) {
        case (.constant(let a), .constant(let b)):
            if Semantics.binary(op, a, b, type: .s64) != 0 { jump(to: label) }
        case (.temp(let index, _), .constant(let bits)):
            let reg = loadTemp(index, .r0)
            emitCompare(jumpOp(op), reg, operand(type.normalize(bits), type, is32: false), to: label)
        case (.constant(let bits), .temp(let index, _)):
            let reg = loadTemp(index, .r0)
            emitCompare(jumpOp(Self.swapped[op] ?? op), reg, operand(type.normalize(bits), type, is32: false), to: label)
        case (.temp(let a, _), .temp(let b, _)):
            let ra = loadTemp(a, .r0)
            let rb = loadTemp(b, .r5)
            emitCompare(jumpOp(op), ra, .reg(rb), to: label)
        }
    }

    // MARK: Calls

    static let packetMethods: [String: (helper: Int32, arity: Int)] = [
        "readU8": (ABI.fnPktReadU8, 1), "readU16": (ABI.fnPktReadU16, 1), "readU32": (ABI.fnPktReadU32, 1),
        "readU64": (ABI.fnPktReadU64, 1), "writeU8": (ABI.fnPktWriteU8, 2), "writeU16": (ABI.fnPktWriteU16, 2),
        "writeU32": (ABI.fnPktWriteU32, 2), "writeU64": (ABI.fnPktWriteU64, 2), "len": (ABI.fnPktLen, 0),
    ]

    mutating func call(object: String?, name: String, args: [Expr], location: SourceLocation) -> Value? {
        if let object {
            guard object == "Packet" else {
                error(location, "unknown object '\(object)'; only Packet has methods (Packet.readU8(off), …)")
                return nil
            }
            guard let method = Self.packetMethods[name] else {
                error(location, "Packet has no method '\(name)'; it has " + Self.packetMethods.keys.sorted().joined(separator: ", "))
                return nil
            }
            guard args.count == method.arity else {
                error(location, "Packet.\(name) takes \(method.arity) argument\(method.arity == 1 ? "" : "s"), not \(args.count)")
                return nil
            }
            return emitCall(args: args, base: 1, helper: method.helper, symbol: nil, location: location)
        }
        if let type = IntType(rawValue: name) {
            guard args.count == 1, let argument = args.first else {
                error(location, "the conversion \(name)(x) takes one argument")
                return nil
            }
            guard let value = gen(argument) else { return nil }
            switch value {
            case .constant(let bits): return .temp(materialize(.constant(bits), type), type)
            case .temp(let index, _):
                let reg = loadTemp(index, .r0)
                normalize(reg, type)
                storeTemp(index, reg)
                return .temp(index, type)
            }
        }
        if let signature = script.chains[name] {
            guard args.count == signature.parameters.count else {
                error(location, "chain '\(name)' takes \(signature.parameters.count) argument\(signature.parameters.count == 1 ? "" : "s"), not \(args.count)")
                return nil
            }
            calls.append((name, location))
            return emitCall(args: args, base: 2, helper: nil, symbol: name, location: location)
        }
        if script.programs[name] != nil, let program = script.catalog.programs[name] {
            guard args.count == program.argumentCount else {
                error(location, "program '\(name)' takes \(program.argumentCount) argument\(program.argumentCount == 1 ? "" : "s"), not \(args.count)")
                return nil
            }
            if !script.calledPrograms.contains(name) { script.calledPrograms.append(name) }
            return emitCall(args: args, base: 2, helper: nil, symbol: name, location: location)
        }
        if script.catalog.programs[name] != nil {
            error(location, "program '\(name)' is not imported; add it to a 'from programs.PACKAGE import …' line")
        } else if let kind = kindOf(name) {
            error(location, "'\(name)' is \(kind), not something to call")
        } else {
            error(location, "unknown function '\(name)'")
        }
        return nil
    }

    /// Evaluates the arguments, saves the live temps below them, moves the arguments to
    /// r<base>…, calls (a helper, or the element `symbol` via r1 and call 0x14) and reloads.
    mutating func emitCall(args: [Expr], base: UInt8, helper: Int32?, symbol: String?, location: SourceLocation) -> Value? {
        let outer = depth
        var values: [Value] = []
        var failed = false
        for arg in args {
            if let value = gen(arg) { values.append(value) } else { failed = true }
        }
        if failed {
            depth = outer
            return nil
        }
        let saved = min(outer, Self.pool.count)
        for index in 0..<saved { emit(.store(size: .dw, dst: .r10, offset: tempSlot(index), src: Self.pool[index])) }
        var moves: [(target: BPFRegister, source: BPFRegister)] = []
        var loads: [(BPFRegister, Int16)] = []
        var constants: [(BPFRegister, UInt64)] = []
        for (position, value) in values.enumerated() {
            guard let target = BPFRegister(rawValue: base + UInt8(position)) else { continue }
            switch value {
            case .constant(let bits): constants.append((target, bits))
            case .temp(let index, _):
                if index < Self.pool.count {
                    if Self.pool[index] != target { moves.append((target, Self.pool[index])) }
                } else {
                    loads.append((target, tempSlot(index)))
                }
            }
        }
        // Register moves in an order that reads every source before it is overwritten.
        while !moves.isEmpty {
            if let ready = moves.firstIndex(where: { move in !moves.contains { $0.source == move.target } }) {
                emit(.mov64(moves[ready].target, moves[ready].source))
                moves.remove(at: ready)
            } else if let first = moves.first {
                // A cycle: park one source in r0.
                emit(.mov64(.r0, first.source))
                for index in moves.indices where moves[index].source == first.source { moves[index].source = .r0 }
            }
        }
        for (target, offset) in loads { emit(.load(size: .dw, dst: target, src: .r10, offset: offset)) }
        for (target, bits) in constants { setReg(target, bits) }
        if let helper {
            emit(.call(helper: helper))
        } else if let symbol {
            relocations.append((code.count, symbol, location))
            emit(.mov64(.r1, imm: 0))
            emit(.call(helper: ABI.fnCall))
        }
        depth = outer
        for index in 0..<saved { emit(.load(size: .dw, dst: Self.pool[index], src: .r10, offset: tempSlot(index))) }
        let result = allocTemp()
        storeTemp(result, .r0)
        return .temp(result, .u64)
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
