import ECLAT
import HikeRuntime

extension ProgramCatalog {
    /// The eCLAT compiler's view of the catalog: each program's package, arity and finality, each
    /// loader's package and maps (what `hike compile`/`load`, testbeds and benchmarks compile against).
    public var compilerCatalog: ECLATCatalog {
        var result = ECLATCatalog()
        for entry in entries {
            switch entry.kind {
            case .program:
                result.programs[entry.key] = .init(package: entry.package, argumentCount: entry.arguments.count, isFinal: entry.isFinal,
                                                      maps: entry.maps)
            case .loader:
                result.loaders[entry.name] = .init(package: entry.package, maps: entry.maps)
            }
        }
        return result
    }
}
