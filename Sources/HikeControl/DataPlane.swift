import BPFKit
import HikeErrors
import HikeRuntime
import HikeVM

/// The service layer over one HIKe instance: every change to its data plane is one call here,
/// with a typed request and a typed report, checked before anything changes and undone when a
/// later step fails. The CLI, testbeds, benchmarks and tests call it; the daemon will serve it.
public struct DataPlane: Sendable {
    public let instance: HikeInstance

    public init(instance: HikeInstance) {
        self.instance = instance
    }

    /// The instance `name` (its pins and registry are created on first use).
    public init(name: String) throws(ControlError) {
        instance = try ControlError.wrapping { try HikeInstance(name: name) }
    }

    /// Installs chains written against names (from `hike chain load`, generated chains): loads
    /// the programs they call, links, checks and installs them; a chain of the same name is
    /// replaced atomically. Nothing is loaded or installed when a chain does not link or check.
    public func installChains(_ chains: [AssembledChain], source: String?, dryRun: Bool = false) throws(ControlError) -> ChainInstallReport {
        guard !chains.isEmpty else { throw .invalid("no chain to install", code: "chain.none") }
        return try ControlError.wrapping { try instance.install(chains, source: source, dryRun: dryRun) }
    }
}
