import BPFInstructions
import HikeVM

/// The chain: homes for variables, then statement by statement.
extension CodeGenerator {
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
        if localConstants[name] != nil || localStrings.contains(name) { return "a constant" }
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
                if case .string = value {
                    localStrings.insert(name)
                    return
                }
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
}
