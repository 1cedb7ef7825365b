import BPFKit

/// Where a loader starts packets on chains: XDP (in the driver or generic), or a tc clsact
/// hook, where the packet is an skb (a host's own traffic at egress). Chains run the same at
/// each; at tc they call the programs' tc twins (bpf/include/hike/hook.h).
public enum LoaderHook: Sendable, Hashable, CustomStringConvertible {
    case xdp(XDPMode)
    case tc(TCDirection)

    /// Every name `init(name:)` takes.
    public static let names = ["native", "generic", "tc-ingress", "tc-egress"]

    /// "native" or "generic" (XDP), "tc-ingress" or "tc-egress": what attachment records keep as
    /// their mode.
    public init?(name: String) {
        switch name {
        case "native": self = .xdp(.native)
        case "generic": self = .xdp(.generic)
        case "tc-ingress": self = .tc(.ingress)
        case "tc-egress": self = .tc(.egress)
        default: return nil
        }
    }

    public var name: String {
        switch self {
        case .xdp(let mode): mode.rawValue
        case .tc(let direction): "tc-\(direction.rawValue)"
        }
    }

    public var description: String { name }

    /// The hook alone: "xdp", "tc-ingress" or "tc-egress" (as `--hook` takes it).
    public var hookName: String {
        switch self {
        case .xdp: "xdp"
        case .tc: name
        }
    }

    /// Whether two attachments on one interface would take the same hook (XDP has one, in
    /// whichever mode).
    public func sharesHook(with other: LoaderHook) -> Bool {
        switch (self, other) {
        case (.xdp, .xdp): true
        case (.tc(let a), .tc(let b)): a == b
        default: false
        }
    }

    /// The tc filter's handle and priority: hike's own, so that other filters on the hook stay.
    static let tcHandle: UInt32 = 0x48
    static let tcPriority: UInt32 = 0x48
}
