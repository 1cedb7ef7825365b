import BPFKit
import Foundation

// The topology file's model. Every type decodes strictly (an unknown key is an error, so a typo
// never silently drops a setting) and keeps the order the file gives: nodes come up, and their
// commands run, in the order written.

/// A testbed: nodes (network namespaces), the veth links between them and what runs on them.
public struct TestbedSpec: Codable, Sendable, Equatable {
    /// The default testbed name (`hike testbed up --name` overrides it).
    public var name: String?
    public var nodes: [NodeSpec]
    public var links: [LinkSpec]

    public init(name: String? = nil, nodes: [NodeSpec], links: [LinkSpec] = []) {
        self.name = name
        self.nodes = nodes
        self.links = links
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case name, nodes, links }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self, in: "the testbed")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decodeIfPresent(String.self, forKey: .name)
        if decoder.isStateFile {
            nodes = try container.decode([NodeSpec].self, forKey: .nodes)
        } else {
            let nodeMap = try container.nestedContainer(keyedBy: AnyKey.self, forKey: .nodes)
            nodes = try nodeMap.allKeys.map { key in
                var node = try nodeMap.decodeIfPresent(NodeSpec.self, forKey: key) ?? NodeSpec(name: key.stringValue)
                node.name = key.stringValue
                return node
            }
        }
        links = try container.decodeIfPresent([LinkSpec].self, forKey: .links) ?? []
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(name, forKey: .name)
        // JSON objects lose their order: the state file keeps nodes (and their parts) as lists.
        try container.encode(nodes, forKey: .nodes)
        try container.encode(links, forKey: .links)
    }

    public func node(_ name: String) -> NodeSpec? { nodes.first { $0.name == name } }
}

/// One node: a network namespace with its interfaces, routes and hike configuration.
public struct NodeSpec: Codable, Sendable, Equatable {
    /// The node's name in the file (its key under `nodes:`).
    public var name: String
    /// Sysctls set in the namespace, in order (`net.ipv6.conf.all.forwarding: 1`).
    public var sysctls: [KeyValue]
    public var interfaces: [InterfaceSpec]
    public var routes: [RouteSpec]
    public var neighbours: [NeighbourSpec]
    public var hike: HikeNodeSpec?
    /// A hike SRv6 configuration (`hike srv6 apply`) for the node's instance; kept opaque here.
    public var srv6: String?
    /// hike wing on one of the node's interfaces: a client or server host (`hike wing client|server`).
    public var wing: WingNodeSpec?
    /// Shell commands run inside the node once everything is up, in order; one failing fails `up`.
    public var commands: [String]

    public init(name: String, sysctls: [KeyValue] = [], interfaces: [InterfaceSpec] = [], routes: [RouteSpec] = [],
                neighbours: [NeighbourSpec] = [], hike: HikeNodeSpec? = nil, srv6: String? = nil, wing: WingNodeSpec? = nil,
                commands: [String] = []) {
        self.name = name
        self.sysctls = sysctls
        self.interfaces = interfaces
        self.routes = routes
        self.neighbours = neighbours
        self.hike = hike
        self.srv6 = srv6
        self.wing = wing
        self.commands = commands
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case sysctls, interfaces, routes, neighbours, hike, srv6, wing, commands }
    enum StateKeys: String, CodingKey { case name }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if decoder.isStateFile {
            name = try decoder.container(keyedBy: StateKeys.self).decode(String.self, forKey: .name)
            sysctls = try container.decode([KeyValue].self, forKey: .sysctls)
            interfaces = try container.decode([InterfaceSpec].self, forKey: .interfaces)
        } else {
            try decoder.rejectUnknownKeys(CodingKeys.self, in: "a node")
            name = ""
            sysctls = try container.decodeIfPresent(OrderedMap<String>.self, forKey: .sysctls)?.pairs ?? []
            let interfaceMap = try container.decodeIfPresent(OrderedMap<InterfaceSpec>.self, forKey: .interfaces)
            interfaces = (interfaceMap?.entries ?? []).map { key, value in
                var interface = value ?? InterfaceSpec(name: key)
                interface.name = key
                return interface
            }
        }
        routes = try container.decodeIfPresent([RouteSpec].self, forKey: .routes) ?? []
        neighbours = try container.decodeIfPresent([NeighbourSpec].self, forKey: .neighbours) ?? []
        hike = try container.decodeIfPresent(HikeNodeSpec.self, forKey: .hike)
        srv6 = try container.decodeIfPresent(String.self, forKey: .srv6)
        wing = try container.decodeIfPresent(WingNodeSpec.self, forKey: .wing)
        commands = try container.decodeIfPresent([String].self, forKey: .commands) ?? []
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        var named = encoder.container(keyedBy: StateKeys.self)
        try named.encode(name, forKey: .name)
        try container.encode(sysctls, forKey: .sysctls)
        try container.encode(interfaces, forKey: .interfaces)
        try container.encode(routes, forKey: .routes)
        try container.encode(neighbours, forKey: .neighbours)
        try container.encodeIfPresent(hike, forKey: .hike)
        try container.encodeIfPresent(srv6, forKey: .srv6)
        try container.encodeIfPresent(wing, forKey: .wing)
        try container.encode(commands, forKey: .commands)
    }

    public func interface(_ name: String) -> InterfaceSpec? { interfaces.first { $0.name == name } }
}

/// A key and a value, as a sysctl or a define.
public struct KeyValue: Codable, Sendable, Equatable {
    public var key: String
    public var value: String
    public init(_ key: String, _ value: String) {
        self.key = key
        self.value = value
    }
}

/// An interface of a node: one end of a link (or `lo`), with its addresses.
public struct InterfaceSpec: Codable, Sendable, Equatable {
    public var name: String
    /// `cafe::1/64`, `10.0.0.1/24`.
    public var addresses: [String]
    /// `00:00:00:00:01:00`; the kernel picks one when absent.
    public var mac: String?
    public var mtu: Int?

    public init(name: String, addresses: [String] = [], mac: String? = nil, mtu: Int? = nil) {
        self.name = name
        self.addresses = addresses
        self.mac = mac
        self.mtu = mtu
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case addresses, mac, mtu }
    enum StateKeys: String, CodingKey { case name }

    public init(from decoder: Decoder) throws {
        if decoder.isStateFile {
            name = try decoder.container(keyedBy: StateKeys.self).decode(String.self, forKey: .name)
        } else {
            try decoder.rejectUnknownKeys(CodingKeys.self, in: "an interface")
            name = ""
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        addresses = try container.decodeIfPresent([String].self, forKey: .addresses) ?? []
        mac = try container.decodeIfPresent(String.self, forKey: .mac)
        mtu = try container.decodeIfPresent(Int.self, forKey: .mtu)
    }

    public func encode(to encoder: Encoder) throws {
        var named = encoder.container(keyedBy: StateKeys.self)
        try named.encode(name, forKey: .name)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(addresses, forKey: .addresses)
        try container.encodeIfPresent(mac, forKey: .mac)
        try container.encodeIfPresent(mtu, forKey: .mtu)
    }
}

/// A veth pair: `[h1:veth-h1r1, r1:veth-r1h1]`.
public struct LinkSpec: Codable, Sendable, Equatable {
    public var a: Endpoint
    public var b: Endpoint

    public struct Endpoint: Sendable, Equatable, CustomStringConvertible {
        public var node: String
        public var interface: String
        public var description: String { "\(node):\(interface)" }
        public init(node: String, interface: String) {
            self.node = node
            self.interface = interface
        }
    }

    public init(_ a: Endpoint, _ b: Endpoint) {
        self.a = a
        self.b = b
    }

    public init(from decoder: Decoder) throws {
        var container = try decoder.unkeyedContainer()
        var ends: [Endpoint] = []
        while !container.isAtEnd {
            let text = try container.decode(String.self)
            let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw DecodingError.dataCorrupted(.init(codingPath: container.codingPath + [AnyKey(ends.count)],
                    debugDescription: "'\(text)' is not NODE:INTERFACE (like r1:veth-r1r2)"))
            }
            ends.append(Endpoint(node: parts[0], interface: parts[1]))
        }
        guard ends.count == 2 else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                debugDescription: "a link joins two ends, [NODE:INTERFACE, NODE:INTERFACE], not \(ends.count)"))
        }
        a = ends[0]
        b = ends[1]
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(a.description)
        try container.encode(b.description)
    }
}

/// A static neighbour entry (`ip neigh add ADDRESS lladdr MAC dev DEV`), as the original testbed
/// used so hosts need no neighbour discovery across the VPN.
public struct NeighbourSpec: Codable, Sendable, Equatable {
    public var address: String
    public var lladdr: String
    public var dev: String

    public init(address: String, lladdr: String, dev: String) {
        self.address = address
        self.lladdr = lladdr
        self.dev = dev
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case address, lladdr, dev }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self, in: "a neighbour")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        address = try container.decode(String.self, forKey: .address)
        lladdr = try container.decode(String.self, forKey: .lladdr)
        dev = try container.decode(String.self, forKey: .dev)
    }
}

/// A node's hike data plane: map entries written and eCLAT scripts loaded into an instance of its own.
public struct HikeNodeSpec: Codable, Sendable, Equatable {
    /// Written after the programs they name are loaded and before any script is attached.
    public var maps: [MapEntrySpec]
    public var scripts: [ScriptSpec]

    public init(maps: [MapEntrySpec] = [], scripts: [ScriptSpec] = []) {
        self.maps = maps
        self.scripts = scripts
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case maps, scripts }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self, in: "a node's hike section")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        maps = try container.decodeIfPresent([MapEntrySpec].self, forKey: .maps) ?? []
        scripts = try container.decodeIfPresent([ScriptSpec].self, forKey: .scripts) ?? []
    }
}

/// `wing: {role: client, interface: h1-r1, config: client.yaml}`: hike wing on the node, started
/// after its routes and hike, before its commands.
public struct WingNodeSpec: Codable, Sendable, Equatable {
    public enum Role: String, Codable, Sendable { case client, server }

    public var role: Role
    public var interface: String
    /// The client's HawkWing configuration, relative to the topology file's directory.
    public var config: String?
    /// The server's idle timeout for learned flows, seconds.
    public var flowIdle: UInt32?
    /// native (default) or generic XDP.
    public var mode: String?
    /// The client packs runs of uN SIDs into NEXT-C-SID containers of this format (`32/16`).
    public var usid: String?

    public init(role: Role, interface: String, config: String? = nil, flowIdle: UInt32? = nil, mode: String? = nil,
                usid: String? = nil) {
        self.role = role
        self.interface = interface
        self.config = config
        self.flowIdle = flowIdle
        self.mode = mode
        self.usid = usid
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case role, interface, config, flowIdle = "flow-idle", mode, usid }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self, in: "a node's wing section")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        role = try container.decode(Role.self, forKey: .role)
        interface = try container.decode(String.self, forKey: .interface)
        config = try container.decodeIfPresent(String.self, forKey: .config)
        flowIdle = try container.decodeIfPresent(UInt32.self, forKey: .flowIdle)
        mode = try container.decodeIfPresent(String.self, forKey: .mode)
        usid = try container.decodeIfPresent(String.self, forKey: .usid)
    }
}

/// An eCLAT script: `hike load FILE -D …` inside the node.
public struct ScriptSpec: Codable, Sendable, Equatable {
    /// Relative to the topology file's directory.
    public var file: String
    /// The device: `-D DEVNAME <interface>` (the scripts' convention), checked to be the node's.
    public var interface: String?
    public var defines: [KeyValue]

    public init(file: String, interface: String? = nil, defines: [KeyValue] = []) {
        self.file = file
        self.interface = interface
        self.defines = defines
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case file, interface, defines }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self, in: "a script")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        file = try container.decode(String.self, forKey: .file)
        interface = try container.decodeIfPresent(String.self, forKey: .interface)
        defines = decoder.isStateFile ? try container.decode([KeyValue].self, forKey: .defines)
            : try container.decodeIfPresent(OrderedMap<String>.self, forKey: .defines)?.pairs ?? []
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(file, forKey: .file)
        try container.encodeIfPresent(interface, forKey: .interface)
        try container.encode(defines, forKey: .defines)
    }

    /// The -D defines the script is compiled with: `interface` as DEVNAME, then `defines`.
    public var allDefines: [String: String] {
        var result: [String: String] = [:]
        if let interface { result["DEVNAME"] = interface }
        for define in defines { result[define.key] = define.value }
        return result
    }
}

/// One entry of a map of the node's instance, as `hike map update MAP KEY VALUE` writes it: key
/// and value in the JSON form of the map's BTF (structs as mappings, addresses as text).
public struct MapEntrySpec: Codable, Sendable, Equatable {
    /// The map: its name (the end of its pin path) or its path relative to the instance.
    public var map: String
    /// A program whose object declares the map; loaded first so the map exists.
    public var program: String?
    public var key: MapJSONValue
    public var value: MapJSONValue

    public init(map: String, program: String? = nil, key: MapJSONValue, value: MapJSONValue) {
        self.map = map
        self.program = program
        self.key = key
        self.value = value
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case map, program, key, value }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self, in: "a map entry")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        map = try container.decode(String.self, forKey: .map)
        program = try container.decodeIfPresent(String.self, forKey: .program)
        key = try container.decode(YAMLValue.self, forKey: .key).json
        value = try container.decode(YAMLValue.self, forKey: .value).json
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(map, forKey: .map)
        try container.encodeIfPresent(program, forKey: .program)
        try container.encode(key, forKey: .key)
        try container.encode(value, forKey: .value)
    }
}

/// Any YAML value as a MapJSONValue. Scalars that read as decimal integers become integers and
/// everything else text, which the map codec then reads by the field's type (so `fc00::1`, a
/// MAC or `0x10` never go through YAML 1.1's number rules).
struct YAMLValue: Decodable {
    let json: MapJSONValue

    init(from decoder: Decoder) throws {
        if let map = try? decoder.container(keyedBy: AnyKey.self) {
            json = .object(try map.allKeys.map { key in
                MapJSONValue.Field(key.stringValue, try map.decode(YAMLValue.self, forKey: key).json)
            })
        } else if var list = try? decoder.unkeyedContainer() {
            var items: [MapJSONValue] = []
            while !list.isAtEnd { items.append(try list.decode(YAMLValue.self).json) }
            json = .array(items)
        } else {
            let single = try decoder.singleValueContainer()
            if single.decodeNil() {
                json = .null
                return
            }
            // JSON (the state file) has typed scalars; YAML gives every scalar as text.
            guard let text = try? single.decode(String.self) else {
                if let number = try? single.decode(Int64.self) {
                    json = .int(number)
                } else if let number = try? single.decode(UInt64.self) {
                    json = .uint(number)
                } else if let flag = try? single.decode(Bool.self) {
                    json = .bool(flag)
                } else {
                    json = .double(try single.decode(Double.self))
                }
                return
            }
            if let number = Int64(text) {
                json = .int(number)
            } else if let number = UInt64(text) {
                json = .uint(number)
            } else if text == "true" || text == "false" {
                json = .bool(text == "true")
            } else {
                json = .string(text)
            }
        }
    }
}

/// A YAML mapping read in its order; values are scalars as text (sysctls, defines) or T.
struct OrderedMap<Value: Codable>: Codable {
    var entries: [(String, Value?)]

    init(entries: [(String, Value?)]) { self.entries = entries }

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        entries = try container.allKeys.map { key in (key.stringValue, try container.decodeIfPresent(Value.self, forKey: key)) }
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: AnyKey.self)
        for (key, value) in entries { try container.encodeIfPresent(value, forKey: AnyKey(key)) }
    }
}

extension OrderedMap where Value == String {
    var pairs: [KeyValue] { entries.map { KeyValue($0.0, $0.1 ?? "") } }
}

/// A coding key for any name or index.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(_ string: String) { stringValue = string }
    init(_ index: Int) {
        stringValue = String(index)
        intValue = index
    }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { self.init(intValue) }
}

extension CodingUserInfoKey {
    /// Set when decoding the state file (JSON), where ordered mappings are stored as lists.
    static let testbedStateFile = CodingUserInfoKey(rawValue: "hike.testbed.state")!
}

extension Decoder {
    var isStateFile: Bool { userInfo[.testbedStateFile] as? Bool == true }

    /// Fails on keys that Keys does not name: a misspelt key would otherwise be dropped silently.
    func rejectUnknownKeys<Keys: CodingKey & CaseIterable>(_ keys: Keys.Type, in what: String) throws {
        let container = try self.container(keyedBy: AnyKey.self)
        let known = Keys.allCases.map(\.stringValue)
        for key in container.allKeys where !known.contains(key.stringValue) {
            throw DecodingError.dataCorrupted(.init(
                codingPath: codingPath + [key],
                debugDescription: "unknown key '\(key.stringValue)' in \(what); known keys: \(known.joined(separator: ", "))"))
        }
    }
}
