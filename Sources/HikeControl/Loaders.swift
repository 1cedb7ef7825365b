import BPFKit
import HikeErrors
import HikeRuntime
import NetKit

/// Where to attach a loader and how it starts packets.
public struct LoaderAttachRequest: Sendable {
    public var loader: String
    public var device: String
    /// The network namespace of the device (nil: hike's own).
    public var namespace: String?
    /// XDP (native or generic) or a tc hook.
    public var hook: LoaderHook
    /// The chain every packet starts on (nil: the routes pick it).
    public var chain: String?
    public var defaultVerdict: UInt32
    /// Prefix → chain, for loaders with a `*_routes` map.
    public var routes: [(prefix: String, chain: String)]

    public init(loader: String, device: String, namespace: String? = nil, hook: LoaderHook = .xdp(.native), chain: String?,
                defaultVerdict: UInt32, routes: [(prefix: String, chain: String)] = []) {
        self.loader = loader
        self.device = device
        self.namespace = namespace
        self.hook = hook
        self.chain = chain
        self.defaultVerdict = defaultVerdict
        self.routes = routes
    }
}

/// A loader left starting packets on a chain that was removed: they get its default verdict.
public struct OrphanedLoader: Sendable, Codable, Equatable {
    public var chain: String
    public var attachment: AttachmentRecord

    public init(chain: String, attachment: AttachmentRecord) {
        self.chain = chain
        self.attachment = attachment
    }
}

extension DataPlane {
    /// Attaches a loader (HikeInstance.attach): a copy with maps of its own, configured, attached
    /// through a pinned bpf_link (XDP) or a clsact filter (tc). Nothing stays behind when a step fails.
    public func attachLoader(_ request: LoaderAttachRequest) throws(ControlError) -> AttachmentRecord {
        try ControlError.wrapping {
            let namespace = try request.namespace.map { try NetworkNamespace(existing: $0) }
            return try instance.attach(loader: request.loader, interface: request.device, namespace: namespace, hook: request.hook,
                                       chain: request.chain, defaultVerdict: request.defaultVerdict, routes: request.routes)
        }
    }

    /// Detaches the loaders on a device (at one hook, or at all) and removes their pins; returns
    /// what was attached. Nothing attached there is an error that says where loaders are attached.
    public func detachLoader(device: String, namespace: String?, hook: LoaderHook? = nil) throws(ControlError) -> [AttachmentRecord] {
        try ControlError.wrapping {
            let attachments = try instance.attachments()
            let records = attachments.filter {
                $0.interface == device && $0.namespace == namespace && (hook.map($0.hook.sharesHook) ?? true)
            }
            guard !records.isEmpty else {
                let place = device + (namespace.map { " in namespace \($0)" } ?? "") + (hook.map { " at \($0.hookName)" } ?? "")
                if let other = attachments.first(where: { $0.interface == device }) {
                    throw ControlError.invalid("nothing attached to \(place); \(other.loader) is attached to \(other.place)"
                        + (other.namespace.map { ": add --netns \($0)" } ?? ": leave out --netns"), code: "runtime.not-attached")
                }
                throw ControlError.invalid("nothing attached to \(place)" + (attachments.isEmpty ? " (instance '\(instance.name)' has no attachments)"
                    : "; attached: " + attachments.map(\.place).joined(separator: ", ")), code: "runtime.not-attached")
            }
            try instance.detach(interface: device, namespace: namespace, hook: hook)
            return records
        }
    }

    /// Removes installed chains, every name checked first (a typo removes nothing). Their IDs stop
    /// resolving at once; returns the loaders that still start packets on one of them.
    public func removeChains(_ names: [String]) throws(ControlError) -> [OrphanedLoader] {
        try ControlError.wrapping {
            let registry = try instance.registry()
            for name in names where registry.chains[name] == nil {
                throw RuntimeError.unknownChain(name, known: registry.chains.keys.sorted().joined(separator: ", "))
            }
            var orphaned: [OrphanedLoader] = []
            for name in names {
                try instance.removeChain(name)
                orphaned += registry.attachments.filter { $0.chain == name }.map { OrphanedLoader(chain: name, attachment: $0) }
            }
            return orphaned
        }
    }
}
