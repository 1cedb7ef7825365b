// Convenience constructors for code generators. Each builds exactly the encoding that
// clang -target bpf -mcpu=v4 emits for the corresponding assembly.

extension BPFInstruction {
    // MARK: ALU

    /// `dst op= imm` on 64-bit registers (BPF_ALU64 | BPF_K). `.neg` ignores `imm`, `.end` is not
    /// meant for this builder (use `byteSwap`).
    public static func alu64(_ op: BPFALUOp, dst: BPFRegister, imm: Int32) -> BPFInstruction {
        BPFInstruction(opcode: op.rawValue | BPFSource.k.rawValue | BPFInstructionClass.alu64.rawValue,
                       dst: dst.rawValue, imm: op == .neg ? 0 : imm)
    }

    /// `dst op= src` on 64-bit registers (BPF_ALU64 | BPF_X).
    public static func alu64(_ op: BPFALUOp, dst: BPFRegister, src: BPFRegister) -> BPFInstruction {
        BPFInstruction(opcode: op.rawValue | BPFSource.x.rawValue | BPFInstructionClass.alu64.rawValue,
                       dst: dst.rawValue, src: src.rawValue)
    }

    /// `wdst op= imm` on 32-bit subregisters (BPF_ALU | BPF_K).
    public static func alu32(_ op: BPFALUOp, dst: BPFRegister, imm: Int32) -> BPFInstruction {
        BPFInstruction(opcode: op.rawValue | BPFSource.k.rawValue | BPFInstructionClass.alu.rawValue,
                       dst: dst.rawValue, imm: op == .neg ? 0 : imm)
    }

    /// `wdst op= wsrc` on 32-bit subregisters (BPF_ALU | BPF_X).
    public static func alu32(_ op: BPFALUOp, dst: BPFRegister, src: BPFRegister) -> BPFInstruction {
        BPFInstruction(opcode: op.rawValue | BPFSource.x.rawValue | BPFInstructionClass.alu.rawValue,
                       dst: dst.rawValue, src: src.rawValue)
    }

    /// Signed division/modulo (cpu v4): the DIV/MOD opcodes with offset 1 (`s/=`, `s%=`).
    public static func sdiv64(dst: BPFRegister, imm: Int32) -> BPFInstruction { signed(.alu64(.div, dst: dst, imm: imm)) }
    public static func sdiv64(dst: BPFRegister, src: BPFRegister) -> BPFInstruction { signed(.alu64(.div, dst: dst, src: src)) }
    public static func smod64(dst: BPFRegister, imm: Int32) -> BPFInstruction { signed(.alu64(.mod, dst: dst, imm: imm)) }
    public static func smod64(dst: BPFRegister, src: BPFRegister) -> BPFInstruction { signed(.alu64(.mod, dst: dst, src: src)) }
    public static func sdiv32(dst: BPFRegister, imm: Int32) -> BPFInstruction { signed(.alu32(.div, dst: dst, imm: imm)) }
    public static func sdiv32(dst: BPFRegister, src: BPFRegister) -> BPFInstruction { signed(.alu32(.div, dst: dst, src: src)) }
    public static func smod32(dst: BPFRegister, imm: Int32) -> BPFInstruction { signed(.alu32(.mod, dst: dst, imm: imm)) }
    public static func smod32(dst: BPFRegister, src: BPFRegister) -> BPFInstruction { signed(.alu32(.mod, dst: dst, src: src)) }

    private static func signed(_ insn: BPFInstruction) -> BPFInstruction {
        var insn = insn
        insn.offset = 1
        return insn
    }

    public static func mov64(_ dst: BPFRegister, imm: Int32) -> BPFInstruction { alu64(.mov, dst: dst, imm: imm) }
    public static func mov64(_ dst: BPFRegister, _ src: BPFRegister) -> BPFInstruction { alu64(.mov, dst: dst, src: src) }
    public static func mov32(_ dst: BPFRegister, imm: Int32) -> BPFInstruction { alu32(.mov, dst: dst, imm: imm) }
    public static func mov32(_ dst: BPFRegister, _ src: BPFRegister) -> BPFInstruction { alu32(.mov, dst: dst, src: src) }

    /// Sign-extending move (cpu v4): `dst = (s8)src` etc. `bits` is 8, 16 or 32 (32 only for 64-bit).
    public static func movsx64(_ dst: BPFRegister, _ src: BPFRegister, bits: Int16) -> BPFInstruction {
        var insn = alu64(.mov, dst: dst, src: src)
        insn.offset = bits
        return insn
    }

    /// Sign-extending 32-bit move (cpu v4): `wdst = (s8)wsrc`; `bits` is 8 or 16.
    public static func movsx32(_ dst: BPFRegister, _ src: BPFRegister, bits: Int16) -> BPFInstruction {
        var insn = alu32(.mov, dst: dst, src: src)
        insn.offset = bits
        return insn
    }

    public static func neg64(_ dst: BPFRegister) -> BPFInstruction { alu64(.neg, dst: dst, imm: 0) }
    public static func neg32(_ dst: BPFRegister) -> BPFInstruction { alu32(.neg, dst: dst, imm: 0) }

    /// Byte swaps: `dst = be16 dst`, `dst = le32 dst`, `dst = bswap64 dst`. `bits` is 16, 32 or 64.
    public static func byteSwap(_ kind: BPFByteSwap, _ dst: BPFRegister, bits: Int32) -> BPFInstruction {
        let opcode: UInt8 = switch kind {
        case .toLE: BPFALUOp.end.rawValue | BPFSource.k.rawValue | BPFInstructionClass.alu.rawValue
        case .toBE: BPFALUOp.end.rawValue | BPFSource.x.rawValue | BPFInstructionClass.alu.rawValue
        case .bswap: BPFALUOp.end.rawValue | BPFSource.k.rawValue | BPFInstructionClass.alu64.rawValue
        }
        return BPFInstruction(opcode: opcode, dst: dst.rawValue, imm: bits)
    }

    // MARK: Loads and stores

    /// `dst = *(uN *)(src + offset)` (BPF_LDX | BPF_MEM).
    public static func load(size: BPFSize, dst: BPFRegister, src: BPFRegister, offset: Int16) -> BPFInstruction {
        BPFInstruction(opcode: BPFMode.mem.rawValue | size.rawValue | BPFInstructionClass.ldx.rawValue,
                       dst: dst.rawValue, src: src.rawValue, offset: offset)
    }

    /// `dst = *(sN *)(src + offset)`, sign-extending (BPF_LDX | BPF_MEMSX; cpu v4; not for `.dw`).
    public static func loadSigned(size: BPFSize, dst: BPFRegister, src: BPFRegister, offset: Int16) -> BPFInstruction {
        BPFInstruction(opcode: BPFMode.memsx.rawValue | size.rawValue | BPFInstructionClass.ldx.rawValue,
                       dst: dst.rawValue, src: src.rawValue, offset: offset)
    }

    /// `*(uN *)(dst + offset) = src` (BPF_STX | BPF_MEM).
    public static func store(size: BPFSize, dst: BPFRegister, offset: Int16, src: BPFRegister) -> BPFInstruction {
        BPFInstruction(opcode: BPFMode.mem.rawValue | size.rawValue | BPFInstructionClass.stx.rawValue,
                       dst: dst.rawValue, src: src.rawValue, offset: offset)
    }

    /// `*(uN *)(dst + offset) = imm` (BPF_ST | BPF_MEM).
    public static func store(size: BPFSize, dst: BPFRegister, offset: Int16, imm: Int32) -> BPFInstruction {
        BPFInstruction(opcode: BPFMode.mem.rawValue | size.rawValue | BPFInstructionClass.st.rawValue,
                       dst: dst.rawValue, offset: offset, imm: imm)
    }

    /// Atomic read-modify-write on `*(uN *)(dst + offset)` with `src` (BPF_STX | BPF_ATOMIC);
    /// `size` is `.w` or `.dw`. With `fetch` the old value lands in `src` (in r0 for cmpxchg).
    /// xchg and cmpxchg always fetch.
    public static func atomic(
        _ op: BPFAtomicOp, size: BPFSize, dst: BPFRegister, offset: Int16, src: BPFRegister, fetch: Bool = false
    ) -> BPFInstruction {
        let fetches = fetch || op == .xchg || op == .cmpxchg
        return BPFInstruction(opcode: BPFMode.atomic.rawValue | size.rawValue | BPFInstructionClass.stx.rawValue,
                              dst: dst.rawValue, src: src.rawValue, offset: offset,
                              imm: op.rawValue | (fetches ? atomicFetchFlag : 0))
    }

    /// `dst = load_acquire((uN *)(src + offset))` (cpu v4, BPF_STX | BPF_ATOMIC, imm BPF_LOAD_ACQ).
    public static func loadAcquire(size: BPFSize, dst: BPFRegister, src: BPFRegister, offset: Int16) -> BPFInstruction {
        BPFInstruction(opcode: BPFMode.atomic.rawValue | size.rawValue | BPFInstructionClass.stx.rawValue,
                       dst: dst.rawValue, src: src.rawValue, offset: offset, imm: atomicLoadAcquire)
    }

    /// `store_release((uN *)(dst + offset), src)` (cpu v4, BPF_STX | BPF_ATOMIC, imm BPF_STORE_REL).
    public static func storeRelease(size: BPFSize, dst: BPFRegister, offset: Int16, src: BPFRegister) -> BPFInstruction {
        BPFInstruction(opcode: BPFMode.atomic.rawValue | size.rawValue | BPFInstructionClass.stx.rawValue,
                       dst: dst.rawValue, src: src.rawValue, offset: offset, imm: atomicStoreRelease)
    }

    /// `dst = imm ll`: the 16-byte LD_IMM64.
    public static func ldImm64(dst: BPFRegister, imm: Int64) -> BPFInstruction {
        let bits = UInt64(bitPattern: imm)
        return BPFInstruction(opcode: BPFMode.imm.rawValue | BPFSize.dw.rawValue | BPFInstructionClass.ld.rawValue,
                              dst: dst.rawValue,
                              imm: Int32(bitPattern: UInt32(truncatingIfNeeded: bits)),
                              imm64High: Int32(bitPattern: UInt32(truncatingIfNeeded: bits >> 32)))
    }

    /// LD_IMM64 with a `BPF_PSEUDO_*` source, e.g. a map fd (`.mapFD`, imm = fd) or a map value
    /// (`.mapValue`, imm = fd, `valueOffset` in the upper half).
    public static func ldImm64(dst: BPFRegister, pseudo: PseudoSource, imm: Int32, high: Int32 = 0) -> BPFInstruction {
        BPFInstruction(opcode: BPFMode.imm.rawValue | BPFSize.dw.rawValue | BPFInstructionClass.ld.rawValue,
                       dst: dst.rawValue, src: pseudo.rawValue, imm: imm, imm64High: high)
    }

    /// `r0 = *(uN *)skb[imm]` (legacy BPF_LD | BPF_ABS; r6 holds the skb).
    public static func loadAbsolute(size: BPFSize, imm: Int32) -> BPFInstruction {
        BPFInstruction(opcode: BPFMode.abs.rawValue | size.rawValue | BPFInstructionClass.ld.rawValue, imm: imm)
    }

    /// `r0 = *(uN *)skb[src]` (legacy BPF_LD | BPF_IND; r6 holds the skb).
    public static func loadIndirect(size: BPFSize, src: BPFRegister, imm: Int32 = 0) -> BPFInstruction {
        BPFInstruction(opcode: BPFMode.ind.rawValue | size.rawValue | BPFInstructionClass.ld.rawValue,
                       src: src.rawValue, imm: imm)
    }

    // MARK: Jumps

    /// `if dst op imm goto +offset` (BPF_JMP | BPF_K). `offset` counts slots from the next instruction.
    public static func jump(_ op: BPFJumpOp, dst: BPFRegister, imm: Int32, offset: Int16) -> BPFInstruction {
        BPFInstruction(opcode: op.rawValue | BPFSource.k.rawValue | BPFInstructionClass.jmp.rawValue,
                       dst: dst.rawValue, offset: offset, imm: imm)
    }

    /// `if dst op src goto +offset` (BPF_JMP | BPF_X).
    public static func jump(_ op: BPFJumpOp, dst: BPFRegister, src: BPFRegister, offset: Int16) -> BPFInstruction {
        BPFInstruction(opcode: op.rawValue | BPFSource.x.rawValue | BPFInstructionClass.jmp.rawValue,
                       dst: dst.rawValue, src: src.rawValue, offset: offset)
    }

    /// `if wdst op imm goto +offset` (BPF_JMP32 | BPF_K).
    public static func jump32(_ op: BPFJumpOp, dst: BPFRegister, imm: Int32, offset: Int16) -> BPFInstruction {
        BPFInstruction(opcode: op.rawValue | BPFSource.k.rawValue | BPFInstructionClass.jmp32.rawValue,
                       dst: dst.rawValue, offset: offset, imm: imm)
    }

    /// `if wdst op wsrc goto +offset` (BPF_JMP32 | BPF_X).
    public static func jump32(_ op: BPFJumpOp, dst: BPFRegister, src: BPFRegister, offset: Int16) -> BPFInstruction {
        BPFInstruction(opcode: op.rawValue | BPFSource.x.rawValue | BPFInstructionClass.jmp32.rawValue,
                       dst: dst.rawValue, src: src.rawValue, offset: offset)
    }

    /// `goto +offset`.
    public static func ja(offset: Int16) -> BPFInstruction {
        BPFInstruction(opcode: BPFJumpOp.ja.rawValue | BPFInstructionClass.jmp.rawValue, offset: offset)
    }

    /// `gotol +imm` (cpu v4): BPF_JMP32 | BPF_JA with a 32-bit slot distance in imm.
    public static func gotol(imm: Int32) -> BPFInstruction {
        BPFInstruction(opcode: BPFJumpOp.ja.rawValue | BPFInstructionClass.jmp32.rawValue, imm: imm)
    }

    /// `may_goto +offset` (BPF_JMP | BPF_JCOND).
    public static func mayGoto(offset: Int16) -> BPFInstruction {
        BPFInstruction(opcode: BPFJumpOp.jcond.rawValue | BPFInstructionClass.jmp.rawValue, offset: offset)
    }

    /// `call helper` (helper id in imm).
    public static func call(helper: Int32) -> BPFInstruction {
        BPFInstruction(opcode: BPFJumpOp.call.rawValue | BPFInstructionClass.jmp.rawValue, imm: helper)
    }

    /// Call to a BPF function of the same program (src = BPF_PSEUDO_CALL); `relative` counts slots
    /// from the next instruction to the callee's first instruction.
    public static func call(relative: Int32) -> BPFInstruction {
        BPFInstruction(opcode: BPFJumpOp.call.rawValue | BPFInstructionClass.jmp.rawValue,
                       src: pseudoCall, imm: relative)
    }

    /// Call to a kernel function (src = BPF_PSEUDO_KFUNC_CALL, imm = BTF id).
    public static func call(kfunc btfID: Int32) -> BPFInstruction {
        BPFInstruction(opcode: BPFJumpOp.call.rawValue | BPFInstructionClass.jmp.rawValue,
                       src: pseudoKfuncCall, imm: btfID)
    }

    /// `callx reg`: indirect call through a register (held in the dst field, as LLVM encodes it).
    public static func callx(_ reg: BPFRegister) -> BPFInstruction {
        BPFInstruction(opcode: BPFJumpOp.call.rawValue | BPFSource.x.rawValue | BPFInstructionClass.jmp.rawValue,
                       dst: reg.rawValue)
    }

    public static let exit = BPFInstruction(opcode: BPFJumpOp.exit.rawValue | BPFInstructionClass.jmp.rawValue)
}
