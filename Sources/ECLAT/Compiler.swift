// The eCLAT compiler: semantic checks against the catalog and code generation to HIKe VM
// bytecode. See docs/eclat.md for the language and its integer semantics.
//
// Code generation: variables live in r6–r9 (kept across calls by the VM), then in stack slots
// under r10. Expression temporaries are numbered like a stack (tree evaluation is LIFO): temp i
// is r1–r4 for i < 4, else a stack slot; r0 and r5 are scratch. Before a call, the live temps
// below the call's arguments are saved to their slots and reloaded after it.

import BPFInstructions
import HikeVM

/// A value in a loader map entry.
public enum LoaderValue: Hashable, Sendable {
    case integer(UInt64)
    case chain(String)
    case string(String)
}

/// One `loader[map] = {…}` of a script.
public struct LoaderMapConfiguration: Hashable, Sendable {
    /// hike's name of the map (aliases resolved).
    public var map: String
    public var entries: [LoaderMapEntry]
    public var line: Int

    public init(map: String, entries: [LoaderMapEntry], line: Int) {
        self.map = map
        self.entries = entries
        self.line = line
    }
}

public struct LoaderMapEntry: Hashable, Sendable {
    public var key: [LoaderValue]
    public var value: [LoaderValue]

    public init(key: [LoaderValue], value: [LoaderValue]) {
        self.key = key
        self.value = value
    }
}

/// A loader a script imports, with its configuration and attachment.
public struct LoaderUse: Hashable, Sendable {
    /// hike's name (aliases resolved) and the name the script wrote.
    public var loader: String
    public var writtenName: String
    public var package: String
    public var maps: [LoaderMapConfiguration]
    /// `attach('DEV', 'xdp'|'xdpgeneric'|'xdpdrv')`; mode is `native` or `generic`.
    public var attachments: [(device: String, mode: String)]

    public static func == (a: LoaderUse, b: LoaderUse) -> Bool {
        a.loader == b.loader && a.writtenName == b.writtenName && a.maps == b.maps
            && a.attachments.map(\.device) == b.attachments.map(\.device) && a.attachments.map(\.mode) == b.attachments.map(\.mode)
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(loader) }
}

/// A `program[map] = {…}` of a script: entries for a map of an imported program, written when
/// the script loads (the nat package's rules).
public struct ProgramMapConfiguration: Hashable, Sendable {
    /// The program's catalog key and the name the script wrote.
    public var program: String
    public var writtenName: String
    public var map: String
    public var entries: [LoaderMapEntry]
    public var line: Int

    public init(program: String, writtenName: String, map: String, entries: [LoaderMapEntry], line: Int) {
        self.program = program
        self.writtenName = writtenName
        self.map = map
        self.entries = entries
        self.line = line
    }
}

/// A compiled script: chains to link, the programs they call, the loaders to configure.
public struct CompiledScript: Sendable {
    /// The chains in file order; program and chain IDs are relocations (see `AssembledChain.link`).
    public var chains: [AssembledChain]
    /// Programs the chains call, in order of first call, by the symbol they are called by
    /// (`package.name`).
    public var programs: [String]
    public var loaders: [LoaderUse]
    /// Program maps the script fills, in file order.
    public var programMaps: [ProgramMapConfiguration] = []
    /// `-D` names that appear nowhere in the script (probably a typo).
    public var unusedDefines: [String] = []

    /// Links the chains: programs from `programs`, chain `i` gets `chainIDs[name]` or
    /// `HVM_CHAIN_FLAG | (firstIndex + i)`.
    public func link(programs: [String: UInt32], chainIDs: [String: UInt32] = [:], firstIndex: UInt32 = 1)
        throws(AssemblerError) -> LinkedChains
    {
        try chains.link(programs: programs, chainIDs: chainIDs, firstIndex: firstIndex)
    }
}

/// How the compiler treats what the original left to C.
public struct ECLATOptions: Hashable, Sendable {
    /// Refuse operands of different types (convert with `u8(…)` …) instead of converting them by
    /// C's usual arithmetic conversions, as the original did by compiling through C.
    public var strict: Bool

    public init(strict: Bool = false) {
        self.strict = strict
    }
}

public enum ECLATCompiler {
    /// Compiles a script.
    /// - Parameters:
    ///   - defines: `-D NAME VALUE`: every identifier NAME (and every string whose whole text is
    ///     NAME) reads as VALUE.
    /// - Throws: `AssemblerError` with every error of the file, as `file:line:col: error: …`.
    public static func compile(_ source: String, file: String = "<input>", catalog: ECLATCatalog,
                               defines: [String: String] = [:], options: ECLATOptions = ECLATOptions())
        throws(AssemblerError) -> CompiledScript
    {
        var sink = DiagnosticSink(file: file, source: source)
        let tokens = Lexer.tokens(source, defines: defines, sink: &sink)
        var parser = Parser(tokens: tokens, sink: sink)
        let items = parser.parseFile()
        var checker = ScriptCompiler(catalog: catalog, sink: parser.sink, options: options)
        let script = checker.compile(items)
        let diagnostics = checker.sink.diagnostics.sorted { ($0.line, $0.column) < ($1.line, $1.column) }
        if !diagnostics.isEmpty { throw AssemblerError(diagnostics: diagnostics) }
        var result = script
        result.unusedDefines = defines.keys.filter { !checker.sink.usedDefines.contains($0) }.sorted()
        return result
    }
}

// MARK: - Script level

struct ChainSignature {
    var parameters: [Parameter]
    var location: SourceLocation
}

struct ScriptCompiler {
    let catalog: ECLATCatalog
    var sink: DiagnosticSink
    /// Imported programs: the name the script calls → the catalog key.
    var programs: [String: (key: String, location: SourceLocation)] = [:]
    /// Names of imports that failed (reported once there, not again at every call).
    var failedImports: Set<String> = []
    /// Top-level string constants (`DEV = 'veth0'`), usable where strings are.
    var strings: [String: String] = [:]
    let options: ECLATOptions
    var loaders: [String: (use: LoaderUse, location: SourceLocation)] = [:]  // by written name
    var programMaps: [ProgramMapConfiguration] = []
    var loaderOrder: [String] = []
    var constants: [String: UInt64] = [:]
    var chains: [String: ChainSignature] = [:]
    var calledPrograms: [String] = []
    /// Chain → the chains it calls, with the call's place (recursion check).
    var callGraph: [String: [(String, SourceLocation)]] = [:]

    init(catalog: ECLATCatalog, sink: DiagnosticSink, options: ECLATOptions = ECLATOptions()) {
        self.catalog = catalog
        self.sink = sink
        self.options = options
    }

    mutating func error(_ location: SourceLocation, _ message: String) { sink.error(location, message) }

    func kindOf(_ name: String) -> String? {
        if constants[name] != nil || strings[name] != nil { return "a constant" }
        if programs[name] != nil { return "an imported program" }
        if loaders[name] != nil { return "a loader" }
        if chains[name] != nil { return "a chain" }
        return nil
    }

    mutating func compile(_ items: [TopLevel]) -> CompiledScript {
        // Names first, so chains may call chains defined later and maps may name them.
        for item in items {
            switch item {
            case .importPrograms(let package, let names, let isLoader, _, let packageLocation):
                guard catalog.packages.contains(package) else {
                    error(packageLocation, "unknown package '\(package)'; the packages are \(catalog.packages.joined(separator: ", "))")
                    failedImports.formUnion(names.map(\.0))
                    continue
                }
                for (name, location) in names { declareImport(name, location, package: package, isLoader: isLoader) }
            case .chain(let chain):
                // A chain may be named like a program it does not import: chains call programs by
                // `package.name`, which no chain name can shadow.
                if let kind = kindOf(chain.name) {
                    error(chain.location, "redefinition of '\(chain.name)', already \(kind)")
                } else if chain.parameters.count > 4 {
                    error(chain.parameters[4].location, "a chain takes at most 4 parameters (r2–r5)")
                    chains[chain.name] = ChainSignature(parameters: Array(chain.parameters.prefix(4)), location: chain.location)
                } else {
                    chains[chain.name] = ChainSignature(parameters: chain.parameters, location: chain.location)
                }
            case .constant(let name, let expr, let location):
                if let kind = kindOf(name) {
                    error(location, "redefinition of '\(name)', already \(kind)")
                } else if case .string(let text, _) = expr {
                    strings[name] = text
                } else if let value = constantValue(expr) {
                    constants[name] = value
                }
            default: break
            }
        }
        for item in items {
            switch item {
            case .loaderMap(let loader, let map, let value, let location, let mapLocation):
                configureMap(loader: loader, map: map, value: value, location: location, mapLocation: mapLocation)
            case .attach(let loader, let args, let location):
                attach(loader: loader, args: args, location: location)
            default: break
            }
        }
        var assembled: [AssembledChain] = []
        for item in items {
            guard case .chain(let chain) = item, chains[chain.name] != nil else { continue }
            var generator = CodeGenerator(script: self, chain: chain)
            generator.generate()
            assembled.append(generator.assembled())
            sink = generator.script.sink
            calledPrograms = generator.script.calledPrograms
            callGraph[chain.name] = generator.calls
        }
        checkRecursion()
        var script = CompiledScript(chains: assembled, programs: calledPrograms,
                                    loaders: loaderOrder.compactMap { loaders[$0]?.use })
        script.programMaps = programMaps
        return script
    }

    mutating func declareImport(_ name: String, _ location: SourceLocation, package: String, isLoader: Bool) {
        let catalog = catalog
        let packages = catalog.resolve(package: package)
        if isLoader {
            let canonical = catalog.loaderName(name)
            guard let loader = catalog.loaders[canonical], packages.contains(loader.package) else {
                failedImports.insert(name)
                if let loader = catalog.loaders[canonical] {
                    error(location, "package '\(package)' has no loader '\(name)'; it is in '\(loader.package)': from loaders.\(loader.package) import \(name)")
                    return
                }
                let known = catalog.loaders.keys.sorted().joined(separator: ", ")
                let hint = catalog.programs.keys.contains(where: { catalog.name(ofKey: $0) == name })
                    ? " ('\(name)' is a program: import it from programs.PACKAGE)" : ""
                error(location, "unknown loader '\(name)'\(hint); known loaders: \(known.isEmpty ? "none" : known)")
                return
            }
            if let kind = kindOf(name) { error(location, "redefinition of '\(name)', already \(kind)"); return }
            loaders[name] = (LoaderUse(loader: canonical, writtenName: name, package: loader.package, maps: [], attachments: []), location)
            loaderOrder.append(name)
            return
        }
        var target = name
        if package == ECLATCatalog.reservedPackage {
            guard let meaning = ECLATCatalog.reservedNames[name] else {
                failedImports.insert(name)
                error(location, "programs.hike has no '\(name)'; it has " + ECLATCatalog.reservedNames.keys.sorted().joined(separator: ", "))
                return
            }
            guard let program = meaning else { return }  // Packet: always there
            target = program
        }
        let everywhere = catalog.programs.keys.filter { catalog.name(ofKey: $0) == target }.sorted()
        let resolved = package == ECLATCatalog.reservedPackage ? ["hike_default"] : packages
        // In an alias's order: `mynet` takes hike_default's program before meter's.
        guard let key = resolved.compactMap({ wanted in everywhere.first { catalog.programs[$0]?.package == wanted } }).first else {
            failedImports.insert(name)
            if !everywhere.isEmpty {
                let homes = everywhere.compactMap { catalog.programs[$0]?.package }
                error(location, "package '\(package)' has no program '\(name)'; it is in " + homes.map { "'\($0)'" }.joined(separator: ", ")
                    + ": from programs.\(homes[0]) import \(name)")
                return
            }
            let hint = catalog.loaders[catalog.loaderName(name)] != nil ? " ('\(name)' is a loader: import it from loaders.PACKAGE)" : ""
            let own = catalog.programs.keys.filter { resolved.contains(catalog.programs[$0]?.package ?? "") }.map { catalog.name(ofKey: $0) }.sorted()
            error(location, "unknown program '\(name)'\(hint); package '\(package)' has "
                + (own.isEmpty ? "no programs" : own.joined(separator: ", ")))
            return
        }
        if let kind = kindOf(name) { error(location, "redefinition of '\(name)', already \(kind)"); return }
        programs[name] = (key, location)
    }

    mutating func configureMap(loader: String, map: String, value: Expr, location: SourceLocation, mapLocation: SourceLocation) {
        if loaders[loader] == nil, let program = programs[loader] {
            configureProgramMap(program: loader, key: program.key, map: map, value: value, location: location, mapLocation: mapLocation)
            return
        }
        guard var entry = loaders[loader] else {
            error(location, "'\(loader)' is not an imported loader; import it with 'from loaders.PACKAGE import \(loader)'")
            return
        }
        let known = catalog.loaders[entry.use.loader]?.maps ?? []
        let canonical = known.contains(map) ? map : (ECLATCatalog.mapAliases[map] ?? map)
        if !known.isEmpty && !known.contains(canonical) {
            error(mapLocation, "loader '\(loader)' has no map '\(map)'; its maps: \(known.joined(separator: ", "))")
            return
        }
        guard let entries = mapEntries(value, what: "a loader map") else { return }
        entry.use.maps.append(LoaderMapConfiguration(map: canonical, entries: entries, line: location.line))
        loaders[loader] = entry
    }

    /// `program[map] = {…}`: a map the program declares (EXPORT_HIKE_PROG_MAP); the entries are
    /// encoded against the map's own types when the script loads.
    mutating func configureProgramMap(program: String, key: String, map: String, value: Expr, location: SourceLocation,
                                      mapLocation: SourceLocation) {
        let known = catalog.programs[key]?.maps ?? []
        guard known.contains(map) else {
            error(mapLocation, "program '\(program)' has no map '\(map)'"
                + (known.isEmpty ? " (it declares none a script may fill)" : "; its maps: \(known.joined(separator: ", "))"))
            return
        }
        guard let entries = mapEntries(value, what: "a program map") else { return }
        programMaps.append(ProgramMapConfiguration(program: key, writtenName: program, map: map, entries: entries, line: location.line))
    }

    /// The entries of `{ (key, …): (value, …), … }`; nil (reported) when value is not a dict.
    mutating func mapEntries(_ value: Expr, what: String) -> [LoaderMapEntry]? {
        guard case .dict(let pairs, _) = value else {
            error(value.location, "\(what) takes '{ (key, …): (value, …), … }'")
            return nil
        }
        var entries: [LoaderMapEntry] = []
        for (key, val) in pairs {
            var k: [LoaderValue] = [], v: [LoaderValue] = []
            for item in key { if let value = loaderValue(item) { k.append(value) } }
            for item in val { if let value = loaderValue(item) { v.append(value) } }
            if k.count == key.count && v.count == val.count { entries.append(LoaderMapEntry(key: k, value: v)) }
        }
        return entries
    }

    mutating func loaderValue(_ expr: Expr) -> LoaderValue? {
        switch expr {
        case .string(let text, _): return .string(text)
        case .name(let name, _) where strings[name] != nil: return strings[name].map { .string($0) }
        case .name(let name, let location) where constants[name] == nil:
            guard chains[name] != nil else {
                error(location, "'\(name)' is neither a chain nor a constant")
                return nil
            }
            return .chain(name)
        default:
            return constantValue(expr).map { .integer($0) }
        }
    }

    mutating func attach(loader: String, args: [Expr], location: SourceLocation) {
        guard var entry = loaders[loader] else {
            error(location, "'\(loader)' is not an imported loader; import it with 'from loaders.PACKAGE import \(loader)'")
            return
        }
        let args = args.map { arg -> Expr in
            if case .name(let name, let location) = arg, let text = strings[name] { return .string(text, location) }
            return arg
        }
        guard args.count == 2, case .string(let device, _) = args[0], case .string(let mode, let modeLocation) = args[1] else {
            error(location, "write \(loader).attach('DEVICE', 'xdp'), with 'xdp', 'xdpdrv' or 'xdpgeneric'")
            return
        }
        let modes = ["xdp": "native", "xdpdrv": "native", "xdpgeneric": "generic"]
        guard let resolved = modes[mode] else {
            error(modeLocation, "unsupported attach mode '\(mode)'; use 'xdp', 'xdpdrv' or 'xdpgeneric'")
            return
        }
        guard !device.isEmpty else {
            error(args[0].location, "the device name is empty")
            return
        }
        entry.use.attachments.append((device, resolved))
        loaders[loader] = entry
    }

    /// The value of a constant expression (s64 arithmetic, two's complement), or nil after
    /// reporting why it is not one.
    mutating func constantValue(_ expr: Expr) -> UInt64? {
        var evaluator = ConstantEvaluator(constants: constants)
        if let value = evaluator.evaluate(expr) { return value }
        let (location, message) = evaluator.problem ?? (expr.location, "expected a constant")
        error(location, message)
        return nil
    }

    mutating func checkRecursion() {
        // Depth-first search; the first back edge found per cycle is reported at its call.
        var state: [String: Int] = [:]  // 1 = on the path, 2 = done
        var path: [String] = []
        func visit(_ chain: String, _ me: inout ScriptCompiler) {
            state[chain] = 1
            path.append(chain)
            for (callee, location) in me.callGraph[chain] ?? [] {
                if state[callee] == 1 {
                    let cycle = (path.drop { $0 != callee } + [callee]).joined(separator: " → ")
                    me.error(location, "recursive call: \(cycle); chains may not call themselves, directly or not")
                } else if state[callee] == nil {
                    visit(callee, &me)
                }
            }
            path.removeLast()
            state[chain] = 2
        }
        for chain in callGraph.keys.sorted() where state[chain] == nil {
            visit(chain, &self)
        }
    }
}

/// Folds constant expressions in s64.
struct ConstantEvaluator {
    let constants: [String: UInt64]
    var problem: (SourceLocation, String)?

    mutating func evaluate(_ expr: Expr) -> UInt64? {
        switch expr {
        case .integer(let value, _): return value
        case .name(let name, let location):
            if let value = constants[name] { return value }
            problem = (location, "'\(name)' is not a constant")
            return nil
        case .unary(let op, let operand, _):
            guard let value = evaluate(operand) else { return nil }
            return Semantics.unary(op, value, type: .s64)
        case .binary(let op, let left, let right, _):
            guard let a = evaluate(left), let b = evaluate(right) else { return nil }
            return Semantics.binary(op, a, b, type: .s64)
        default:
            problem = (expr.location, "expected a constant")
            return nil
        }
    }
}

/// The integer semantics of docs/eclat.md, on the 64-bit register form of values. The code
/// generator emits instructions with exactly this meaning; the compiler folds constants with it.
public enum Semantics {
    public static func unary(_ op: String, _ value: UInt64, type: IntType) -> UInt64 {
        switch op {
        case "-": return type.normalize(0 &- value)
        case "~": return type.normalize(~value)
        case "not": return value == 0 ? 1 : 0
        default: return value
        }
    }

    public static func binary(_ op: String, _ a: UInt64, _ b: UInt64, type: IntType) -> UInt64 {
        let bits = UInt64(type.bits)
        let sa = Int64(bitPattern: a), sb = Int64(bitPattern: b)
        switch op {
        case "+": return type.normalize(a &+ b)
        case "-": return type.normalize(a &- b)
        case "*": return type.normalize(a &* b)
        case "&": return type.normalize(a & b)
        case "|": return type.normalize(a | b)
        case "^": return type.normalize(a ^ b)
        case "/":
            if b == 0 { return 0 }
            if type.isSigned {
                if sb == -1 { return type.normalize(0 &- a) }  // INT_MIN / -1 wraps
                return type.normalize(UInt64(bitPattern: sa / sb))
            }
            return type.normalize(a / b)
        case "%":
            if b == 0 { return a }
            if type.isSigned {
                if sb == -1 { return 0 }
                return type.normalize(UInt64(bitPattern: sa % sb))
            }
            return type.normalize(a % b)
        case "<<": return type.normalize(a << (b & (bits - 1)))
        case ">>":
            let count = b & (bits - 1)
            return type.isSigned ? type.normalize(UInt64(bitPattern: sa >> Int64(count))) : type.normalize(a >> count)
        case "==": return a == b ? 1 : 0
        case "!=": return a != b ? 1 : 0
        case "<": return (type.isSigned ? sa < sb : a < b) ? 1 : 0
        case "<=": return (type.isSigned ? sa <= sb : a <= b) ? 1 : 0
        case ">": return (type.isSigned ? sa > sb : a > b) ? 1 : 0
        case ">=": return (type.isSigned ? sa >= sb : a >= b) ? 1 : 0
        case "and": return a != 0 && b != 0 ? 1 : 0
        case "or": return a != 0 || b != 0 ? 1 : 0
        default: return 0
        }
    }

    /// Whether a constant (s64 form) can be used as a value of `type`: u64 takes any bit pattern.
    public static func fits(_ value: UInt64, _ type: IntType) -> Bool {
        if type == .u64 || type == .s64 { return true }
        let signed = Int64(bitPattern: value)
        if type.isSigned {
            let limit = Int64(1) << Int64(type.bits - 1)
            return signed >= -limit && signed < limit
        }
        return signed >= 0 && value < UInt64(1) << UInt64(type.bits)
    }
}
