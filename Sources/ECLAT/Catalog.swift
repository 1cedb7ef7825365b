// What the compiler knows about programs and loaders: a plain value, so the compiler runs and is
// tested without a kernel. hike builds it from HikeRuntime's ProgramCatalog.

/// Programs and loaders by name.
public struct ECLATCatalog: Hashable, Sendable {
    public struct Program: Hashable, Sendable {
        public var package: String
        /// User arguments (HVM_ARG2…), 0–4.
        public var argumentCount: Int
        /// Always ends the chain with a verdict (hike_pass, hike_drop).
        public var isFinal: Bool
        /// The maps a script may fill (`program[map] = {…}`): the nat package's rules.
        public var maps: [String]

        public init(package: String, argumentCount: Int, isFinal: Bool = false, maps: [String] = []) {
            self.package = package
            self.argumentCount = argumentCount
            self.isFinal = isFinal
            self.maps = maps
        }
    }

    public struct Loader: Hashable, Sendable {
        public var package: String
        /// The loader's maps that a script may configure (empty: any name is accepted).
        public var maps: [String]

        public init(package: String, maps: [String]) {
            self.package = package
            self.maps = maps
        }
    }

    /// By catalog key: the program's name, or `package.name` where another package exports the
    /// same name.
    public var programs: [String: Program]
    public var loaders: [String: Loader]

    public init(programs: [String: Program] = [:], loaders: [String: Loader] = [:]) {
        self.programs = programs
        self.loaders = loaders
    }

    /// The original eCLAT loader names, accepted for hike's loaders.
    public static let loaderAliases: [String: String] = [
        "ip6_sc": "ip6_classifier",
        "ip6_simple_classifier": "ip6_classifier",
    ]

    /// The original loaders' map names, accepted for hike's configuration maps.
    public static let mapAliases: [String: String] = [
        "ipv6_sc_map": "ip6_cls_cfg",
        "ipv6_simple_classifier_map": "ip6_cls_cfg",
        "ip6_udport_cls_map": "ip6_udport_cls_cfg",
    ]

    /// The original's package names that bundled programs now in other packages: `net` and `mynet`
    /// were eclat-daemon's local bundles, `basic` its loader package.
    public static let packageAliases: [String: [String]] = [
        "net": ["hike_default"],
        "mynet": ["hike_default", "meter", "sampler", "contribs"],
        "basic": ["hike_default"],
    ]

    /// The reserved package `programs.hike` (the original's mapper): its names and what they mean.
    /// `Packet` is the object chains read the packet through; `drop` is hike_default's hike_drop.
    public static let reservedPackage = "hike"
    public static let reservedNames: [String: String?] = ["Packet": nil, "drop": "hike_drop"]

    /// The name a script imports for a catalog key.
    public func name(ofKey key: String) -> String {
        guard let package = programs[key]?.package, key.hasPrefix(package + ".") else { return key }
        return String(key.dropFirst(package.count + 1))
    }

    /// The symbol chains call a program by: `package.name`, which no chain name can shadow.
    public func symbol(ofKey key: String) -> String {
        guard let package = programs[key]?.package else { return key }
        return "\(package).\(name(ofKey: key))"
    }

    /// Every package with a program or a loader, and the original's aliases.
    public var packages: [String] {
        Set(programs.values.map(\.package) + loaders.values.map(\.package) + Self.packageAliases.keys + [Self.reservedPackage]).sorted()
    }

    /// The packages `package` stands for (itself, or what an alias bundles).
    public func resolve(package: String) -> [String] { Self.packageAliases[package] ?? [package] }

    /// hike's loaders, for tests and tools that have no ProgramCatalog at hand.
    public static let standardLoaders: [String: Loader] = [
        "ip6_classifier": Loader(package: "hike_default", maps: ["ip6_cls_cfg"]),
        "ip46_classifier": Loader(package: "hike_default", maps: ["ip46_cls_cfg"]),
        "ip6_lpm_classifier": Loader(package: "hike_default", maps: ["ip6_lpm_routes", "ip6_lpm_cfg"]),
        "ip6_udport862_classifier": Loader(package: "hike_default", maps: ["ip6_udport_cls_cfg"]),
        "ip6_udport42069_classifier": Loader(package: "hike_default", maps: ["ip6_udport_cls_cfg"]),
    ]

    /// A loader name as a script writes it → hike's name.
    public func loaderName(_ name: String) -> String {
        if loaders[name] != nil { return name }
        return Self.loaderAliases[name] ?? name
    }
}
