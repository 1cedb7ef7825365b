import BPFInstructions
import HikeVM

/// Expressions: constants folded, the rest evaluated into registers or temporaries.
extension CodeGenerator {
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

    /// The type C's usual arithmetic conversions give operands of types `a` and `b`: both
    /// promoted (8- and 16-bit types to s32, C's int), then the wider, or the unsigned one of equal
    /// width, or the signed one if it is wider (s64 holds every u32).
    static func commonType(_ a: IntType, _ b: IntType) -> IntType {
        func promoted(_ type: IntType) -> IntType { type.bits < 32 ? .s32 : type }
        let x = promoted(a), y = promoted(b)
        if x == y { return x }
        if x.isSigned == y.isSigned { return x.bits >= y.bits ? x : y }
        let (unsigned, signed) = x.isSigned ? (y, x) : (x, y)
        return unsigned.bits >= signed.bits ? unsigned : signed
    }

    /// The C type of an untyped constant (its s64 form): int if it fits, else long.
    static func constantType(_ bits: UInt64) -> IntType { Semantics.fits(bits, .s32) ? .s32 : .s64 }

    /// A temporary converted to `type` as a C cast does (constants stay as they are).
    mutating func convert(_ value: Value, to type: IntType) -> Value {
        guard case .temp(let index, let from) = value, from != type else { return value }
        let reg = loadTemp(index, .r0)
        normalize(reg, type)
        storeTemp(index, reg)
        return .temp(index, type)
    }

    /// The type two operands meet at, with the operands converted to it, or nil after an error.
    /// Mixed types convert as C does unless the script is compiled `strict`.
    mutating func unify(_ op: String, _ left: Value, _ right: Value, _ location: SourceLocation) -> (IntType, Value, Value)? {
        let common: IntType
        switch (left, right) {
        case (.temp(_, let a), .temp(_, let b)):
            if a == b { return (a, left, right) }
            guard !script.options.strict else {
                error(location, "type mismatch: '\(op)' between \(a) and \(b); convert one side, e.g. \(a)(…)")
                return nil
            }
            common = Self.commonType(a, b)
        case (.temp(_, let type), .constant(let bits)), (.constant(let bits), .temp(_, let type)):
            if Semantics.fits(bits, type) { return (type, left, right) }
            guard !script.options.strict else {
                error(location, "the constant \(Int64(bitPattern: bits)) does not fit \(type)")
                return nil
            }
            common = Self.commonType(type, Self.constantType(bits))
        case (.constant, .constant): return (.s64, left, right)
        }
        return (common, convert(left, to: common), convert(right, to: common))
    }

    mutating func arithmetic(_ op: String, _ leftExpr: Expr, _ rightExpr: Expr, _ location: SourceLocation) -> Value? {
        let leftValue = gen(leftExpr)
        let rightValue = gen(rightExpr)
        guard var left = leftValue, var right = rightValue else {
            release(leftValue)
            release(rightValue)
            return nil
        }
        let isShift = op == "<<" || op == ">>"
        if !isShift {
            // Mixed operands meet at one type (C's conversions, or an error when strict).
            guard let (_, l, r) = unify(op, left, right, location) else {
                release(right)
                release(left)
                return nil
            }
            (left, right) = (l, r)
        }
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
           let constant = tryConstant(rightExpr), Semantics.fits(constant, variable.type) {
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
        guard let (type, lhs, rhs) = unify(written, left, right, location) else { return }
        func jumpOp(_ op: String) -> BPFJumpOp {
            let pair = Self.jumpOps[op] ?? (.jeq, .jeq)
            return type.isSigned ? pair.signed : pair.unsigned
        }
        switch (lhs, rhs) {
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
}
