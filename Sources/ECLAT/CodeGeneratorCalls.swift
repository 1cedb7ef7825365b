import BPFInstructions
import HikeVM

/// Calls: programs, chains, the packet and shared-memory helpers.
extension CodeGenerator {
    static let packetMethods: [String: (helper: Int32, arity: Int)] = [
        "readU8": (ABI.fnPktReadU8, 1), "readU16": (ABI.fnPktReadU16, 1), "readU32": (ABI.fnPktReadU32, 1),
        "readU64": (ABI.fnPktReadU64, 1), "writeU8": (ABI.fnPktWriteU8, 2), "writeU16": (ABI.fnPktWriteU16, 2),
        "writeU32": (ABI.fnPktWriteU32, 2), "writeU64": (ABI.fnPktWriteU64, 2), "len": (ABI.fnPktLen, 0),
    ]

    mutating func call(object: String?, name: String, args: [Expr], location: SourceLocation) -> Value? {
        if let object {
            guard object == "Packet" else {
                error(location, "unknown object '\(object)'; only Packet has methods (Packet.readU8(off), …), as in the original's mapper")
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
        if let key = script.programs[name]?.key, let program = script.catalog.programs[key] {
            guard args.count == program.argumentCount else {
                error(location, "program '\(name)' takes \(program.argumentCount) argument\(program.argumentCount == 1 ? "" : "s"), not \(args.count)")
                return nil
            }
            let symbol = script.catalog.symbol(ofKey: key)
            if !script.calledPrograms.contains(symbol) { script.calledPrograms.append(symbol) }
            return emitCall(args: args, base: 2, helper: nil, symbol: symbol, location: location)
        }
        if script.failedImports.contains(name) { return nil }  // reported at the import
        if script.catalog.programs.keys.contains(where: { script.catalog.name(ofKey: $0) == name }) {
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
}
