import CLinux
import Foundation

/// A route of one routing table, as rtnetlink carries it: what hike installs (the kernel
/// mirror of a local SID or a policy) and what it reads back.
public struct Route: Sendable, Hashable, Codable, CustomStringConvertible {
    /// `unicast` forwards; `local` delivers to the node itself.
    public enum Kind: String, Sendable, Hashable, Codable {
        case unicast
        case local
        case other

        var kernelValue: UInt8 {
            switch self {
            case .unicast, .other: UInt8(RTN_UNICAST)
            case .local: UInt8(RTN_LOCAL)
            }
        }
    }

    public static let mainTable: UInt32 = 254
    public static let localTable: UInt32 = 255

    public var destination: DestinationPrefix
    public var table: UInt32
    public var kind: Kind
    /// The next hop (`via`), nil for a destination on the link.
    public var gateway: IPAddress?
    /// The output device, by name in the route's namespace.
    public var device: String?
    public var encap: RouteEncap?

    public init(destination: DestinationPrefix, table: UInt32 = Route.mainTable, kind: Kind = .unicast,
                gateway: IPAddress? = nil, device: String? = nil, encap: RouteEncap? = nil) {
        self.destination = destination
        self.table = table
        self.kind = kind
        self.gateway = gateway
        self.device = device
        self.encap = encap
    }

    /// As `ip route` writes it (`local fc00::1 dev lo table local`, `fc00::/64 encap … dev veth0`).
    public var description: String {
        var words = kind == .local ? ["local"] : []
        words.append(destination.length == (destination.family == AF_INET6 ? 128 : 32)
                     ? String(destination.description.prefix { $0 != "/" }) : destination.description)
        if let encap { words.append(encap.description) }
        if let gateway { words += ["via", gateway.description] }
        if let device { words += ["dev", device] }
        if table != Route.mainTable { words += ["table", table == Route.localTable ? "local" : String(table)] }
        return words.joined(separator: " ")
    }
}

extension NetworkStack {
    /// Adds the route, or replaces the one of the same destination and table
    /// (`ip route replace`).
    public func replace(_ route: Route) throws(NetworkError) {
        try change(route, flags: NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE, verb: "replace")
    }

    /// Adds the route; a route of the same destination and table is an error (`ip route add`).
    public func add(_ route: Route) throws(NetworkError) {
        try change(route, flags: NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL, verb: "add")
    }

    /// Deletes the route to destination in table (`ip route del`).
    public func deleteRoute(to destination: DestinationPrefix, table: UInt32 = Route.mainTable) throws(NetworkError) {
        let socket = try NetlinkSocket(namespace: namespace)
        var request = NetlinkRequest(type: Int32(RTM_DELROUTE), flags: NLM_F_REQUEST,
                                     header: Self.routeHeader(destination, table: table, kind: nil))
        request.add(Int32(RTA_DST.rawValue), bytes: destination.addressBytes)
        if table > 255 { request.add(Int32(RTA_TABLE.rawValue), table) }
        try socket.perform(request, "delete route \(destination)" + (table == Route.mainTable ? "" : " table \(table)"))
    }

    /// The routes of one family in table whose destination is exactly prefix when given
    /// (`ip route show table T exact P`).
    public func routes(family: Int32, table: UInt32 = Route.mainTable, exactly prefix: DestinationPrefix? = nil) throws(NetworkError) -> [Route] {
        let socket = try NetlinkSocket(namespace: namespace)
        var header = rtmsg()
        header.rtm_family = UInt8(family)
        let replies = try socket.dump(NetlinkRequest(type: Int32(RTM_GETROUTE), flags: NLM_F_REQUEST, header: header),
                                      "list routes of table \(table)")
        var names: [Int32: String] = [:]
        var routes: [Route] = []
        for reply in replies where reply.type == UInt16(RTM_NEWROUTE) {
            guard let (message, attributes) = reply.parse(rtmsg.self) else { continue }
            let routeTable = attributes.integer(Int32(RTA_TABLE.rawValue), as: UInt32.self) ?? UInt32(message.rtm_table)
            guard routeTable == table, Int32(message.rtm_family) == family else { continue }
            let length = Int(message.rtm_dst_len)
            let bytes = attributes[Int32(RTA_DST.rawValue)].map(Array.init) ?? [UInt8](repeating: 0, count: family == AF_INET6 ? 16 : 4)
            guard let destination = Self.prefix(bytes, length: length, family: family) else { continue }
            if let prefix, prefix != destination { continue }
            var device: String?
            if let index = attributes.integer(Int32(RTA_OIF.rawValue), as: Int32.self) {
                if names[index] == nil {
                    do { names[index] = try interfaceName(index: index, socket: socket) } catch where error.errno == ENODEV {
                        names[index] = nil  // gone since the dump: the route goes with it
                    }
                }
                device = names[index]
            }
            let kind: Route.Kind = switch Int32(message.rtm_type) {
            case Int32(RTN_UNICAST): .unicast
            case Int32(RTN_LOCAL): .local
            default: .other
            }
            let gateway = attributes[Int32(RTA_GATEWAY.rawValue)].flatMap { IPAddress(bytes: Array($0)) }
            routes.append(Route(destination: destination, table: routeTable, kind: kind, gateway: gateway, device: device,
                                encap: Self.encap(attributes)))
        }
        return routes
    }

    private func change(_ route: Route, flags: Int32, verb: String) throws(NetworkError) {
        let operation = "\(verb) route \(route)"
        let socket = try NetlinkSocket(namespace: namespace)
        var request = NetlinkRequest(type: Int32(RTM_NEWROUTE), flags: flags,
                                     header: Self.routeHeader(route.destination, table: route.table, kind: route.kind,
                                                              gateway: route.gateway != nil))
        request.add(Int32(RTA_DST.rawValue), bytes: route.destination.addressBytes)
        if route.table > 255 { request.add(Int32(RTA_TABLE.rawValue), route.table) }
        if let gateway = route.gateway { request.add(Int32(RTA_GATEWAY.rawValue), bytes: gateway.bytes) }
        if let device = route.device {
            request.add(Int32(RTA_OIF.rawValue), try interfaceIndex(device, socket: socket, for: operation))
        }
        switch route.encap {
        case nil: break
        case .seg6(let encap):
            request.add(Int32(RTA_ENCAP_TYPE.rawValue), UInt16(LWTUNNEL_ENCAP_SEG6.rawValue))
            request.nest(Int32(RTA_ENCAP.rawValue)) { $0.add(Int32(SEG6_IPTUNNEL_SRH), bytes: encap.tunnelAttribute) }
        case .seg6local(let local):
            request.add(Int32(RTA_ENCAP_TYPE.rawValue), UInt16(LWTUNNEL_ENCAP_SEG6_LOCAL.rawValue))
            request.nest(Int32(RTA_ENCAP.rawValue)) { local.write(to: &$0) }
        }
        try socket.perform(request, operation)
    }

    private static func routeHeader(_ destination: DestinationPrefix, table: UInt32, kind: Route.Kind?, gateway: Bool = false) -> rtmsg {
        var header = rtmsg()
        header.rtm_family = UInt8(destination.family)
        header.rtm_dst_len = UInt8(destination.length)
        header.rtm_table = table > 255 ? UInt8(RT_TABLE_UNSPEC.rawValue) : UInt8(table)
        if let kind {
            header.rtm_protocol = UInt8(RTPROT_BOOT)
            header.rtm_type = kind.kernelValue
            // No gateway: the destination is on the link, as iproute2 marks it.
            header.rtm_scope = UInt8(kind == .local ? RT_SCOPE_HOST.rawValue
                                     : gateway ? RT_SCOPE_UNIVERSE.rawValue : RT_SCOPE_LINK.rawValue)
        } else {
            header.rtm_scope = UInt8(RT_SCOPE_NOWHERE.rawValue)
        }
        return header
    }

    private static func prefix(_ bytes: [UInt8], length: Int, family: Int32) -> DestinationPrefix? {
        if family == AF_INET6, bytes.count == 16 {
            // The kernel keeps prefixes masked; one that is not is not ours to read.
            return (try? IPv6Network(address: IPv6Address(unchecked: bytes), length: length)).map(DestinationPrefix.v6)
        }
        if family == AF_INET, bytes.count == 4 {
            return (try? IPv4Network(parsing: "\(IPv4Address(unchecked: bytes))/\(length)")).map(DestinationPrefix.v4)
        }
        return nil
    }

    private static func encap(_ attributes: Attributes) -> RouteEncap? {
        guard let type = attributes.integer(Int32(RTA_ENCAP_TYPE.rawValue), as: UInt16.self),
              let nested = attributes.nested(Int32(RTA_ENCAP.rawValue)) else { return nil }
        switch UInt32(type) {
        case LWTUNNEL_ENCAP_SEG6.rawValue: return SegmentRoutingEncap(nested).map(RouteEncap.seg6)
        case LWTUNNEL_ENCAP_SEG6_LOCAL.rawValue: return SegmentRoutingLocal(nested).map(RouteEncap.seg6local)
        default: return nil
        }
    }
}

/// An IPv6 or IPv4 address (a next hop).
public enum IPAddress: Sendable, Hashable, AddressText {
    case v6(IPv6Address)
    case v4(IPv4Address)

    public init(parsing text: String) throws(AddressError) {
        if text.contains(":") { self = .v6(try IPv6Address(parsing: text)) } else { self = .v4(try IPv4Address(parsing: text)) }
    }

    /// From 16 or 4 network-order bytes; nil for any other count.
    public init?(bytes: [UInt8]) {
        switch bytes.count {
        case 16: self = .v6(IPv6Address(unchecked: bytes))
        case 4: self = .v4(IPv4Address(unchecked: bytes))
        default: return nil
        }
    }

    public var bytes: [UInt8] {
        switch self {
        case .v6(let address): address.bytes
        case .v4(let address): address.bytes
        }
    }

    public var description: String {
        switch self {
        case .v6(let address): address.description
        case .v4(let address): address.description
        }
    }
}
