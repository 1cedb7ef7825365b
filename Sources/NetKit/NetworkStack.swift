import CLinux
import Foundation

/// The kernel's network stack of one namespace — links, addresses, routes — changed and read
/// over rtnetlink, with typed values in and typed errors out. Each call opens its own socket
/// inside the namespace (no thread stays in it), so a NetworkStack is a plain value.
public struct NetworkStack: Sendable {
    /// nil: the namespace of the calling thread.
    public let namespace: NetworkNamespace?

    public init(namespace: NetworkNamespace? = nil) {
        self.namespace = namespace
    }

    /// The stack of the namespace named name (`/run/netns/NAME`), or the caller's for nil.
    public init(namespaceNamed name: String?) throws(NetworkError) {
        guard let name else { self.init(); return }
        do { self.init(namespace: try NetworkNamespace(existing: name)) } catch {
            throw NetworkError(operation: "open network namespace \(name)", errno: ENOENT,
                               kernelMessage: "no /run/netns/\(name): create it first (ip netns add \(name))")
        }
    }

    // MARK: links

    /// The interface's index (`ip link show NAME`).
    public func interfaceIndex(_ name: String) throws(NetworkError) -> Int32 {
        try interfaceIndex(name, socket: NetlinkSocket(namespace: namespace), for: "find interface \(name)")
    }

    /// Brings the interface up (`ip link set NAME up`).
    public func setUp(_ name: String) throws(NetworkError) {
        let socket = try NetlinkSocket(namespace: namespace)
        let operation = "set \(name) up"
        var header = ifinfomsg()
        header.ifi_index = try interfaceIndex(name, socket: socket, for: operation)
        header.ifi_flags = UInt32(IFF_UP)
        header.ifi_change = UInt32(IFF_UP)
        try socket.perform(NetlinkRequest(type: Int32(RTM_NEWLINK), flags: NLM_F_REQUEST, header: header), operation)
    }

    /// One end of a veth pair: its name, namespace (nil: the stack's), MTU and MAC address.
    public struct VethEnd: Sendable {
        public var name: String
        public var namespace: NetworkNamespace?
        public var mtu: Int?
        public var mac: MACAddress?

        public init(_ name: String, in namespace: NetworkNamespace?, mtu: Int? = nil, mac: MACAddress? = nil) {
            self.name = name
            self.namespace = namespace
            self.mtu = mtu
            self.mac = mac
        }
    }

    /// Creates a veth pair, each end in its namespace (`ip link add NAME address MAC mtu M
    /// netns A type veth peer name PEER … netns B`). The ends are down, as the kernel makes them.
    public func addVethPair(_ first: VethEnd, _ second: VethEnd) throws(NetworkError) {
        let operation = "add veth pair \(first.name) ↔ \(second.name)"
        let socket = try NetlinkSocket(namespace: namespace)
        let firstFD = try Self.openNamespace(first.namespace, for: operation)
        defer { if firstFD >= 0 { close(firstFD) } }
        let secondFD = try Self.openNamespace(second.namespace, for: operation)
        defer { if secondFD >= 0 { close(secondFD) } }
        func describe(_ end: VethEnd, fd: Int32, into writer: inout AttributeWriter) {
            writer.add(Int32(IFLA_IFNAME), string: end.name)
            if fd >= 0 { writer.add(Int32(IFLA_NET_NS_FD), UInt32(fd)) }
            if let mtu = end.mtu { writer.add(Int32(IFLA_MTU), UInt32(mtu)) }
            if let mac = end.mac { writer.add(Int32(IFLA_ADDRESS), bytes: mac.bytes) }
        }
        var request = NetlinkRequest(type: Int32(RTM_NEWLINK), flags: NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL, header: ifinfomsg())
        var own = AttributeWriter()
        describe(first, fd: firstFD, into: &own)
        request.append(own)
        request.nest(Int32(IFLA_LINKINFO)) { info in
            info.add(Int32(IFLA_INFO_KIND), string: "veth")
            info.nest(Int32(IFLA_INFO_DATA)) { data in
                data.nest(Int32(VETH_INFO_PEER)) { peer in
                    peer.append(raw: withUnsafeBytes(of: ifinfomsg()) { Array($0) })
                    describe(second, fd: secondFD, into: &peer)
                }
            }
        }
        try socket.perform(request, operation)
    }

    /// Sets the interface's MTU (`ip link set NAME mtu M`).
    public func setMTU(_ name: String, _ mtu: Int) throws(NetworkError) {
        let socket = try NetlinkSocket(namespace: namespace)
        let operation = "set \(name) mtu \(mtu)"
        var header = ifinfomsg()
        header.ifi_index = try interfaceIndex(name, socket: socket, for: operation)
        var request = NetlinkRequest(type: Int32(RTM_NEWLINK), flags: NLM_F_REQUEST, header: header)
        request.add(Int32(IFLA_MTU), UInt32(mtu))
        try socket.perform(request, operation)
    }

    /// Deletes the interface (`ip link del NAME`); a veth takes its peer with it.
    public func deleteLink(_ name: String) throws(NetworkError) {
        let socket = try NetlinkSocket(namespace: namespace)
        let operation = "delete link \(name)"
        var header = ifinfomsg()
        header.ifi_index = try interfaceIndex(name, socket: socket, for: operation)
        try socket.perform(NetlinkRequest(type: Int32(RTM_DELLINK), flags: NLM_F_REQUEST, header: header), operation)
    }

    // MARK: addresses

    /// Adds address/length to the interface (`ip address add fc00::1/64 dev veth0`). IPv6
    /// addresses skip duplicate address detection (`nodad`) so they are usable at once.
    public func addAddress(_ address: InterfaceAddress, interface: String) throws(NetworkError) {
        let operation = "add address \(address) to \(interface)"
        let socket = try NetlinkSocket(namespace: namespace)
        var header = ifaddrmsg()
        header.ifa_family = UInt8(address.family)
        header.ifa_prefixlen = UInt8(address.length)
        header.ifa_index = UInt32(try interfaceIndex(interface, socket: socket, for: operation))
        var request = NetlinkRequest(type: Int32(RTM_NEWADDR), flags: NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL, header: header)
        request.add(Int32(IFA_LOCAL), bytes: address.bytes)
        request.add(Int32(IFA_ADDRESS), bytes: address.bytes)
        if address.family == AF_INET6 { request.add(Int32(IFA_FLAGS), UInt32(IFA_F_NODAD)) }
        try socket.perform(request, operation)
    }

    // MARK: shared

    func interfaceIndex(_ name: String, socket: NetlinkSocket, for operation: String) throws(NetworkError) -> Int32 {
        guard !name.isEmpty, name.utf8.count < Int(IFNAMSIZ) else {
            throw NetworkError(operation: operation, errno: EINVAL, kernelMessage: "'\(name)' is not an interface name")
        }
        var request = NetlinkRequest(type: Int32(RTM_GETLINK), flags: NLM_F_REQUEST, header: ifinfomsg())
        request.add(Int32(IFLA_IFNAME), string: name)
        let replies: [NetlinkReply]
        do { replies = try socket.perform(request, operation) } catch where error.errno == ENODEV {
            throw NetworkError(operation: operation, errno: ENODEV,
                               kernelMessage: "interface '\(name)' does not exist\(socket.place)")
        }
        guard let index = replies.lazy.compactMap({ $0.parse(ifinfomsg.self)?.header.ifi_index }).first else {
            throw NetworkError(operation: operation, errno: ENODEV, kernelMessage: "interface '\(name)' does not exist\(socket.place)")
        }
        return index
    }

    func interfaceName(index: Int32, socket: NetlinkSocket) throws(NetworkError) -> String? {
        var header = ifinfomsg()
        header.ifi_index = index
        let replies = try socket.perform(NetlinkRequest(type: Int32(RTM_GETLINK), flags: NLM_F_REQUEST, header: header),
                                         "find interface \(index)")
        return replies.lazy.compactMap { $0.parse(ifinfomsg.self)?.attributes.string(Int32(IFLA_IFNAME)) }.first
    }

    /// An open descriptor of the namespace, or -1 for nil (the link stays where it is made).
    private static func openNamespace(_ namespace: NetworkNamespace?, for operation: String) throws(NetworkError) -> Int32 {
        guard let namespace else { return -1 }
        let fd = open(namespace.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw NetworkError(operation: operation + ": open \(namespace.path)", errno: errno) }
        return fd
    }
}

/// An address with its prefix length as an interface carries it (`fc00::1/64`): unlike a
/// route's destination, host bits are what it is about.
public struct InterfaceAddress: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]
    public let length: Int
    public var family: Int32 { bytes.count == 16 ? AF_INET6 : AF_INET }

    public init(parsing text: String) throws(AddressError) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let maximum: Int
        if parts[0].contains(":") {
            bytes = try IPv6Address(parsing: parts[0]).bytes
            maximum = 128
        } else {
            bytes = try IPv4Address(parsing: parts[0]).bytes
            maximum = 32
        }
        guard parts.count == 2 else { length = maximum; return }
        guard let value = Int(parts[1]), (0...maximum).contains(value) else {
            throw AddressError("'\(text)': the prefix length must be a number in 0–\(maximum)")
        }
        length = value
    }

    /// From 16 or 4 network-order bytes and a length in range; nil otherwise.
    public init?(bytes: [UInt8], length: Int) {
        guard bytes.count == 16 || bytes.count == 4, (0...(bytes.count * 8)).contains(length) else { return nil }
        self.bytes = bytes
        self.length = length
    }

    public var description: String {
        (bytes.count == 16 ? IPv6Address(unchecked: bytes).description : IPv4Address(unchecked: bytes).description) + "/\(length)"
    }
}

/// An Ethernet address (`02:00:00:00:00:01`).
public struct MACAddress: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init(parsing text: String) throws(AddressError) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        let bytes = parts.compactMap { $0.count == 2 ? UInt8($0, radix: 16) : nil }
        guard parts.count == 6, bytes.count == 6 else {
            throw AddressError("'\(text)' is not a MAC address (like 02:00:00:00:00:01)")
        }
        self.bytes = bytes
    }

    /// bytes must be 6.
    public init(unchecked bytes: [UInt8]) {
        precondition(bytes.count == 6, "a MAC address has 6 bytes")
        self.bytes = bytes
    }

    public var description: String { bytes.map { String(format: "%02x", $0) }.joined(separator: ":") }
}

/// What a link dump says of one interface: enough to know where a veth's peer is and whether
/// it can take XDP-redirected frames.
public struct LinkState: Sendable, Equatable {
    public var index: Int32
    public var name: String
    public var isUp: Bool
    /// The link kind (`veth`, `dummy` …), nil for a physical device.
    public var kind: String?
    /// For a veth, its peer's index — in this namespace, or in peerNamespaceID's (where it may
    /// equal this link's own index).
    public var peerIndex: Int32?
    /// The namespace ID (as this namespace numbers it) of the peer's namespace, when it is
    /// another.
    public var peerNamespaceID: Int32?
    /// Whether an XDP program is attached, in any mode.
    public var hasXDP: Bool
    /// RFC 2863's operational state as `ip` names it (UP, DOWN, LOWERLAYERDOWN, UNKNOWN …).
    public var operationalState: String
    public var mac: MACAddress?
}

extension NetworkStack {
    /// Every interface of the namespace (`ip -d link show`).
    public func links() throws(NetworkError) -> [LinkState] {
        let socket = try NetlinkSocket(namespace: namespace)
        let replies = try socket.dump(NetlinkRequest(type: Int32(RTM_GETLINK), flags: NLM_F_REQUEST, header: ifinfomsg()),
                                      "list links")
        return replies.compactMap { reply -> LinkState? in
            guard reply.type == UInt16(RTM_NEWLINK), let (header, attributes) = reply.parse(ifinfomsg.self),
                  let name = attributes.string(Int32(IFLA_IFNAME)) else { return nil }
            let xdp = attributes.nested(Int32(IFLA_XDP))?.integer(Int32(IFLA_XDP_ATTACHED), as: UInt8.self) ?? 0
            return LinkState(index: header.ifi_index, name: name, isUp: header.ifi_flags & UInt32(IFF_UP) != 0,
                             kind: attributes.nested(Int32(IFLA_LINKINFO))?.string(Int32(IFLA_INFO_KIND)),
                             peerIndex: attributes.integer(Int32(IFLA_LINK), as: Int32.self),
                             peerNamespaceID: attributes.integer(Int32(IFLA_LINK_NETNSID), as: Int32.self),
                             hasXDP: xdp != 0,
                             operationalState: Self.operationalStates[Int(attributes.integer(Int32(IFLA_OPERSTATE), as: UInt8.self) ?? 0)] ?? "UNKNOWN",
                             mac: attributes[Int32(IFLA_ADDRESS)].flatMap { $0.count == 6 ? MACAddress(unchecked: Array($0)) : nil })
        }
    }

    /// IF_OPER_* (include/uapi/linux/if.h), as `ip` prints them.
    static let operationalStates = [0: "UNKNOWN", 1: "NOTPRESENT", 2: "DOWN", 3: "LOWERLAYERDOWN", 4: "TESTING", 5: "DORMANT", 6: "UP"]

    /// Every address of every interface, by interface name (`ip address show`).
    public func addresses() throws(NetworkError) -> [String: [InterfaceAddress]] {
        let socket = try NetlinkSocket(namespace: namespace)
        var names: [Int32: String] = [:]
        for link in try links() { names[link.index] = link.name }
        let replies = try socket.dump(NetlinkRequest(type: Int32(RTM_GETADDR), flags: NLM_F_REQUEST, header: ifaddrmsg()),
                                      "list addresses")
        var result: [String: [InterfaceAddress]] = [:]
        for reply in replies where reply.type == UInt16(RTM_NEWADDR) {
            guard let (header, attributes) = reply.parse(ifaddrmsg.self), let name = names[Int32(header.ifa_index)],
                  let bytes = attributes[Int32(IFA_LOCAL)] ?? attributes[Int32(IFA_ADDRESS)],
                  let address = InterfaceAddress(bytes: Array(bytes), length: Int(header.ifa_prefixlen)) else { continue }
            result[name, default: []].append(address)
        }
        return result
    }

    /// NSFS_MAGIC (linux/magic.h): the file system of namespace files.
    static let nsfsMagic = 0x6e73_6673

    /// The ID this namespace gives other (`ip netns list-id`), or nil when it gave it none.
    /// Throws network.not-found when other is being created or deleted.
    public func namespaceID(of other: NetworkNamespace) throws(NetworkError) -> Int32? {
        let socket = try NetlinkSocket(namespace: namespace)
        let operation = "find the ID of namespace \(other.name)"
        let fd = open(other.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw NetworkError(operation: operation + ": open \(other.path)", errno: errno) }
        defer { close(fd) }
        // `ip netns delete` unmounts the namespace before it unlinks the name: in between, the
        // path opens as an empty file, which the kernel refuses as "Peer netns reference is
        // invalid". Say it is gone.
        var fileSystem = statfs()
        guard fstatfs(fd, &fileSystem) == 0 else { throw NetworkError(operation: operation + ": fstatfs \(other.path)", errno: errno) }
        guard fileSystem.f_type == Self.nsfsMagic else {
            throw NetworkError(operation: operation, errno: ENOENT, kernelMessage: "\(other.path) is no longer a namespace (being deleted)")
        }
        var header = rtgenmsg()
        header.rtgen_family = UInt8(AF_UNSPEC)
        var request = NetlinkRequest(type: Int32(RTM_GETNSID), flags: NLM_F_REQUEST, header: header)
        request.add(Int32(NETNSA_FD), UInt32(fd))
        let replies = try socket.perform(request, operation)
        let id = replies.lazy.compactMap { $0.parse(rtgenmsg.self)?.attributes.integer(Int32(NETNSA_NSID), as: Int32.self) }.first
        return id.flatMap { $0 < 0 ? nil : $0 }
    }
}

/// Interface counters as the kernel keeps them (`ip -s link`: IFLA_STATS64).
public struct InterfaceCounters: Sendable, Hashable {
    public var rxPackets: UInt64
    public var rxBytes: UInt64
    public var rxDropped: UInt64
    public var txPackets: UInt64
    public var txBytes: UInt64
    public var txDropped: UInt64

    /// Reads the counters of an interface in a namespace.
    public static func read(_ interface: String, in namespace: NetworkNamespace) throws(NetworkError) -> InterfaceCounters {
        try NetworkStack(namespace: namespace).counters(of: interface)
    }
}

extension NetworkStack {
    /// The interface's counters (`ip -s link show NAME`).
    public func counters(of name: String) throws(NetworkError) -> InterfaceCounters {
        let operation = "read the counters of \(name)"
        let socket = try NetlinkSocket(namespace: namespace)
        var request = NetlinkRequest(type: Int32(RTM_GETLINK), flags: NLM_F_REQUEST, header: ifinfomsg())
        request.add(Int32(IFLA_IFNAME), string: name)
        let replies = try socket.perform(request, operation)
        guard let bytes = replies.lazy.compactMap({ $0.parse(ifinfomsg.self)?.attributes[Int32(IFLA_STATS64)] }).first,
              bytes.count >= MemoryLayout<rtnl_link_stats64>.size else {
            throw NetworkError(operation: operation, errno: ENODATA, kernelMessage: "the kernel sent no 64-bit link statistics")
        }
        let stats = bytes.withUnsafeBytes { $0.loadUnaligned(as: rtnl_link_stats64.self) }
        return InterfaceCounters(rxPackets: stats.rx_packets, rxBytes: stats.rx_bytes, rxDropped: stats.rx_dropped,
                                 txPackets: stats.tx_packets, txBytes: stats.tx_bytes, txDropped: stats.tx_dropped)
    }
}
