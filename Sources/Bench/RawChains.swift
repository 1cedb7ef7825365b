import BPFKit
import BPFObjects

/// The raw tail-call chains of bpf/bench/bench_tailcall.bpf.c, loaded privately (nothing pinned):
/// an entry program, N no-op hops and bench_drop, through a program array.
public final class RawTailCallChains: @unchecked Sendable {  // used from one thread
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// Every tail call has a constant index: the JIT makes it a direct jump.
        case constant
        /// Every tail call's index is read at run time: an indirect jump.
        case runtime

        var prefix: String { self == .constant ? "bench_const" : "bench_rt" }
        var map: String { self == .constant ? "bench_const_jmp" : "bench_rt_jmp" }
    }

    /// The longest chain the object has hops for.
    public static let maxHops = 8
    public static let objectName = "bench_tailcall"

    public let object: BPFObject
    /// Returns XDP_DROP at once: the baseline, and the end of every chain.
    public let drop: BPFProgram

    public init() throws {
        guard let embedded = EmbeddedObjects.named(Self.objectName) else { throw BenchError.missingObject(Self.objectName) }
        object = try BPFObject(bytes: embedded.bytes, name: embedded.name)
        drop = try object.program("bench_drop")
    }

    /// The program a packet enters the chain of that kind through.
    public func entry(_ kind: Kind) throws -> BPFProgram {
        try object.program("\(kind.prefix)_entry")
    }

    /// Makes the chain of that kind traverse `hops` no-op programs: slots 0..<hops hold the hops,
    /// slot `hops` holds bench_drop.
    public func configure(_ kind: Kind, hops: Int) throws {
        precondition((0...Self.maxHops).contains(hops), "hops must be 0–\(Self.maxHops)")
        let table = try object.map(kind.map)
        for slot in 0..<hops {
            try table.update(UInt32(slot), UInt32(bitPattern: try object.program("\(kind.prefix)_\(slot)").fd))
        }
        try table.update(UInt32(hops), UInt32(bitPattern: drop.fd))
    }
}
