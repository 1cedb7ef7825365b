import BPFKit
import ECLAT
import HikeErrors
import HikeRuntime
import HikeVM

/// How a compiled eCLAT script's loaders attach (`loader[cfg] = …` and `loader.attach(DEV, MODE)`):
/// hike attaches a loader with one chain and a default verdict, or with LPM routes for loaders
/// whose map is a `*_routes` map. `hike load` and testbeds both attach from these plans.
public struct LoaderPlan: Sendable {
    public var loader: String
    public var device: String
    public var mode: XDPMode
    public var chain: String?
    public var defaultVerdict: UInt32
    public var routes: [Route]

    public struct Route: Sendable, Equatable {
        public var prefix: String
        public var chain: String
    }

    /// A script whose loader configuration hike cannot attach; `line` is the script's line.
    public struct Problem: Error, Sendable, CustomStringConvertible {
        public var line: Int?
        public var message: String
        public var description: String { (line.map { "\($0): " } ?? "") + message }
    }

    /// The chains the plan starts packets on.
    public var chains: [String] { [chain].compactMap { $0 } + routes.map(\.chain) }

    /// `routes` as `HikeInstance.attach` takes them.
    public var routePairs: [(prefix: String, chain: String)] { routes.map { ($0.prefix, $0.chain) } }

    /// The plans of a compiled script; every problem is found before anything is touched.
    public static func plans(_ script: CompiledScript) throws(Problem) -> [LoaderPlan] {
        var plans: [LoaderPlan] = []
        for use in script.loaders {
            var chain: String?
            var verdict = ABI.xdpDrop
            var routes: [Route] = []
            // A `_prefixes` map is the fastdrop list, written by ScriptMapWrites.
            for map in use.maps where !map.map.hasSuffix("_prefixes") {
                for entry in map.entries {
                    if map.map.hasSuffix("_routes") {
                        guard case .string(let prefix)? = entry.key.first, case .chain(let target)? = entry.value.first else {
                            throw Problem(line: map.line, message: "\(use.writtenName)[\(map.map)] takes { ('PREFIX/LEN'): (chain) }")
                        }
                        routes.append(Route(prefix: prefix, chain: target))
                        continue
                    }
                    // A _cfg map: (chain[, default verdict]) or, for ip6_lpm_cfg, (verdict).
                    for value in entry.value {
                        switch value {
                        case .chain(let name):
                            if let chain, chain != name {
                                throw Problem(line: map.line, message: "\(use.writtenName) starts every packet on one chain; "
                                    + "'\(chain)' and '\(name)' both appear (hike attaches a loader with one chain)")
                            }
                            chain = name
                        case .integer(let value):
                            guard value <= UInt64(ABI.verdictMax) else {
                                throw Problem(line: map.line, message: "default verdict \(value) is not an XDP action (0–4)")
                            }
                            verdict = UInt32(value)
                        case .string(let text):
                            throw Problem(line: map.line, message: "'\(text)': \(use.writtenName)[\(map.map)] takes a chain and a verdict")
                        }
                    }
                }
            }
            for attachment in use.attachments {
                plans.append(LoaderPlan(loader: use.loader, device: attachment.device,
                                        mode: attachment.mode == "generic" ? .generic : .native,
                                        chain: chain, defaultVerdict: verdict, routes: routes))
            }
        }
        return plans
    }
}

extension LoaderPlan.Problem: HikeError {
    public var code: String { "script.loader" }
}
