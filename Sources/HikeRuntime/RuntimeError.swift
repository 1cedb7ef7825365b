import HikeErrors

/// What went wrong in the HIKe runtime, said so that the person knows what to fix.
public enum RuntimeError: Error, CustomStringConvertible, Sendable {
    case catalog(String)
    case unknownProgram(String, known: String)
    case unknownChain(String, known: String)
    case unknownLoader(String, known: String)
    case notALoader(String)
    case isALoader(String)
    /// A chain named like a program calls that name: the chain itself or the program?
    case nameClash(String, program: String)
    /// A name two packages export, asked for without its package.
    case ambiguousProgram(String, candidates: String)
    case noFreeSlot(needed: Int)
    case noFreeProgramID
    case notAttached(String)
    case alreadyAttached(String)
    /// A loader without a build for that hook (tc).
    case notAtHook(loader: String, hook: String, loaders: String)
    case registry(String)
    case invalidChain(String)
    /// A prefix list longer than its map holds.
    case listTooLong(count: Int, capacity: Int, map: String)
    /// A map pinned by an earlier load has another layout than the object declares now.
    case incompatiblePin(object: String, instance: String, libbpf: String)

    public var description: String {
        switch self {
        case .catalog(let why): "catalog: \(why)"
        case .unknownProgram(let name, let known): "no program '\(name)' (known: \(known))"
        case .unknownChain(let name, let known):
            "no chain '\(name)' installed" + (known.isEmpty ? "" : " (installed: \(known))")
        case .unknownLoader(let name, let known): "no loader '\(name)' (loaders: \(known))"
        case .notALoader(let name): "'\(name)' is a program, not a loader: chains call it, it does not start them"
        case .isALoader(let name): "'\(name)' is a loader, not a program: attach it to an interface (hike loader attach \(name) DEV)"
        case .nameClash(let name, let program):
            "chain '\(name)' calls '\(name)', which names both the chain and the program \(program): "
                + "write 'call \(program)' for the program, or give the chain another name"
        case .ambiguousProgram(let name, let candidates): "'\(name)' is exported by more than one package: name one of \(candidates)"
        case .noFreeSlot(let needed):
            "no free chain slot for \(needed) chain(s): remove chains first (hike chain rm NAME)"
        case .noFreeProgramID: "the program table is full: unload programs first"
        case .notAttached(let what): "nothing attached to \(what)"
        case .alreadyAttached(let what): "a loader is already attached to \(what): detach it first (hike loader detach)"
        case .notAtHook(let loader, let hook, let loaders): "loader \(loader) runs at XDP only; at \(hook): \(loaders)"
        case .registry(let why): "registry: \(why)"
        case .invalidChain(let why): why
        case .listTooLong(let count, let capacity, let map): "\(count) prefixes: \(map) holds at most \(capacity)"
        case .incompatiblePin(let object, let instance, let libbpf):
            "cannot load '\(object)': a map pinned in instance \(instance) has another layout than this hike's "
                + "(pinned by another version of hike?): remove the instance (hike reset --instance \(instance)) and load "
                + "again\n\(libbpf)"
        }
    }
}

extension RuntimeError: HikeError {
    public var code: String {
        switch self {
        case .catalog: "runtime.catalog"
        case .unknownProgram: "runtime.unknown-program"
        case .unknownChain: "runtime.unknown-chain"
        case .unknownLoader: "runtime.unknown-loader"
        case .notALoader: "runtime.not-a-loader"
        case .isALoader: "runtime.is-a-loader"
        case .nameClash: "runtime.name-clash"
        case .ambiguousProgram: "runtime.ambiguous-program"
        case .noFreeSlot: "runtime.no-free-slot"
        case .noFreeProgramID: "runtime.no-free-program-id"
        case .notAttached: "runtime.not-attached"
        case .alreadyAttached: "runtime.already-attached"
        case .notAtHook: "runtime.not-at-hook"
        case .registry: "runtime.registry"
        case .invalidChain: "runtime.invalid-chain"
        case .listTooLong: "runtime.list-too-long"
        case .incompatiblePin: "runtime.incompatible-pin"
        }
    }
    public var message: String { description }
}
