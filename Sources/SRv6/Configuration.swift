import Foundation
import NetKit
import Yams

/// A locator: the prefix a node's SIDs come from, and for uSIDs its block and node lengths.
public struct Locator: Sendable, Hashable {
    public let name: String
    public let prefix: IPv6Network
    public let microSID: MicroSIDFormat?
}

/// A local SID (a prefix of "My Local SID Table") bound to an endpoint behaviour.
public struct LocalSID: Sendable, Hashable {
    public let prefix: IPv6Network
    public let behaviour: EndpointBehaviour
    public let flavours: Flavours
    /// End.T, End.DT*: the FIB table (254 = main).
    public let table: UInt32?
    /// End.X, End.DX6: the IPv6 next hop; End.DX4: the IPv4 one.
    public let nextHop6: IPv6Address?
    public let nextHop4: IPv4Address?
    /// End.X, End.DX*: the egress interface, by name (resolved to an index when applied).
    public let interface: String?
    /// NEXT-C-SID lengths (uN, uA).
    public let microSID: MicroSIDFormat?
    /// Also turn on the kernel's counters on the mirror route.
    public let count: Bool
    /// SR proxies: the function's side of the node.
    public var proxy: ProxyFunction? = nil

    /// `End.DT6 table 254`, `uN lblen 32 nflen 16`: the behaviour and its arguments.
    public var summary: String {
        var words = [behaviour.name]
        if !flavours.isEmpty { words.append("flavours " + flavours.description) }
        if let microSID { words.append(microSID.description) }
        if let table { words.append("table \(table)") }
        if let nextHop6 { words.append("nh6 \(nextHop6)") }
        if let nextHop4 { words.append("nh4 \(nextHop4)") }
        if let interface { words.append("oif \(interface)") }
        if let proxy { words.append(proxy.summary) }
        return words.joined(separator: " ")
    }
}

/// What an SR proxy knows of the function behind it (draft-ietf-spring-sr-service-programming
/// §6): IFACE-OUT is the SID's interface and next hops, IFACE-IN where its packets come back.
public struct ProxyFunction: Sendable, Hashable {
    public let interfaceIn: String
    /// The inner packets the function takes (End.AM: IPv6).
    public let inner: InnerTypes
    /// End.AD: the least time between two learnings of the outer headers, in milliseconds.
    public let ageMilliseconds: UInt32
    /// End.AS: the headers the function's packets get.
    public let headers: ProxyHeaders?

    public var summary: String {
        var words = ["iif \(interfaceIn)", "inner \(inner)"]
        if let headers { words.append("segs \(headers.segments.map(\.description).joined(separator: ",")) src \(headers.source)") }
        return words.joined(separator: " ")
    }
}

/// End.AS's outer headers, as H.Encaps would write them for this segment list.
public struct ProxyHeaders: Sendable, Hashable {
    public let source: IPv6Address
    /// In visiting order: segments[0] is the outer destination.
    public let segments: [IPv6Address]
    public let hopLimit: UInt8

    public init(source: IPv6Address, segments: [IPv6Address], hopLimit: UInt8) {
        self.source = source
        self.segments = segments
        self.hopLimit = hopLimit
    }
}

/// srv6.h's SRV6_INNER_* bits.
public struct InnerTypes: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let ipv6 = InnerTypes(rawValue: 1 << 0)
    public static let ipv4 = InnerTypes(rawValue: 1 << 1)
    /// Whole Ethernet frames (next header 143): End.AS and End.AD in L2 mode.
    public static let ethernet = InnerTypes(rawValue: 1 << 2)
    public static let names: [(String, InnerTypes)] = [("ipv6", .ipv6), ("ipv4", .ipv4), ("ethernet", .ethernet)]
    public var description: String { Self.names.filter { contains($0.1) }.map(\.0).joined(separator: ",") }
}

/// A headend policy: traffic to destination gets the segment list.
public struct HeadendPolicy: Sendable, Hashable {
    public let destination: DestinationPrefix
    public let mode: HeadendMode
    /// In visiting order: segments[0] is the first SID (the outer destination address).
    public let segments: [IPv6Address]
    public let source: IPv6Address
    /// Outer hop limit for non-IPv6 inner packets (IPv6 inner ones keep theirs); 64 when unset.
    public let hopLimit: UInt8
    public let tag: UInt16
    public let flags: UInt8
    /// The pm flow the headend counts and marks this policy's packets as (the mode is the flow's,
    /// set with `hike pm flow add`); 0: not monitored.
    public var pmFlow: UInt32 = 0

    public var summary: String {
        "\(mode.rfcName) segs \(segments.map(\.description).joined(separator: ",")) src \(source)"
            + (pmFlow == 0 ? "" : " pm-flow \(pmFlow)")
    }
}

/// `kernel-routes:`: whether apply mirrors SIDs and policies as the kernel's own seg6local and
/// seg6 routes (the hybrid split's fallback, see KernelRoutes).
public enum KernelRoutesSetting: String, Sendable, Hashable, Codable {
    /// Mirror where the kernel has seg6/seg6local, none where it has not (the default).
    case auto
    /// Mirror; a kernel without seg6 is an error before anything changes.
    case on = "true"
    /// Never: what XDP does not finish is handled as SRV6_FALLBACK_NONE says.
    case off = "false"
}

/// A validated SRv6 configuration for one node (one HIKe instance).
public struct SRv6Configuration: Sendable, Hashable {
    public var namespace: String?
    public var interfaces: [String]
    public var genericXDP: Bool
    public var kernelRoutes: KernelRoutesSetting
    public var locators: [Locator]
    public var localSIDs: [LocalSID]
    public var policies: [HeadendPolicy]

    /// Reads and validates a file; every problem found is reported, each with its line.
    public static func load(file path: String) throws(SRv6Error) -> SRv6Configuration {
        switch ConfigurationDiagnostic.readFile(path) {
        case .success(let text): return try parse(text, file: path)
        case .failure(let diagnostic): throw .configuration([diagnostic])
        }
    }

    /// Parses and validates YAML text; file names the source in diagnostics.
    public static func parse(_ text: String, file: String = "<input>") throws(SRv6Error) -> SRv6Configuration {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw SRv6Error.configuration([ConfigurationDiagnostic(file: file, line: 0, column: 0, message: "the file is empty")])
            }
            root = node
        } catch let error as SRv6Error {
            throw error
        } catch let error as YamlError {
            throw .configuration([yamlDiagnostic(error, file: file)])
        } catch {
            throw .configuration([ConfigurationDiagnostic(file: file, line: 0, column: 0, message: "\(error)")])
        }
        let marked = MarkedDocument(file: file, root: root)
        guard root.mapping != nil else {
            throw .configuration([marked.diagnostic("the configuration must be a mapping (namespace:, interfaces:, local-sids:, policies: …)", at: [])])
        }
        let unknown = marked.unknownKeys()
        if !unknown.isEmpty { throw .configuration(unknown) }
        let document: ConfigurationDocument
        do {
            document = try YAMLDecoder().decode(ConfigurationDocument.self, from: root)
        } catch let error as DecodingError {
            throw .configuration([decodingDiagnostic(error, in: marked)])
        } catch {
            throw .configuration([marked.diagnostic("\(error)", at: [])])
        }
        var validator = Validator(document: marked)
        let configuration = validator.validate(document)
        if !validator.diagnostics.isEmpty { throw .configuration(validator.diagnostics) }
        return configuration
    }

    /// A Yams error at its mark (line 0 when it has none); also for other modules' YAML files.
    public static func yamlDiagnostic(_ error: YamlError, file: String) -> ConfigurationDiagnostic {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            ConfigurationDiagnostic(file: file, line: mark.line, column: mark.column, message: "YAML: \(problem)")
        default:
            ConfigurationDiagnostic(file: file, line: 0, column: 0, message: "YAML: \(error)")
        }
    }

    /// A Codable decoding error at the node its coding path names.
    public static func decodingDiagnostic(_ error: DecodingError, in document: MarkedDocument) -> ConfigurationDiagnostic {
        func where_(_ path: [any CodingKey]) -> String {
            path.isEmpty ? "the configuration" : "'" + path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }
                .joined().trimmingCharacters(in: CharacterSet(charactersIn: ".")) + "'"
        }
        switch error {
        case .keyNotFound(let key, let context):
            return document.diagnostic("\(where_(context.codingPath)) needs '\(key.stringValue)'", at: context.codingPath)
        case .typeMismatch(let type, let context):
            return document.diagnostic("\(where_(context.codingPath)) must be \(Self.typeName(type))", at: context.codingPath)
        case .valueNotFound(let type, let context):
            return document.diagnostic("\(where_(context.codingPath)) must be \(Self.typeName(type)), not empty", at: context.codingPath)
        case .dataCorrupted(let context):
            return document.diagnostic("\(where_(context.codingPath)): \(context.debugDescription)", at: context.codingPath)
        @unknown default:
            return document.diagnostic("\(error)", at: [])
        }
    }

    /// What a value of type must look like, for people.
    public static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is UInt8.Type: "a number in 0–255"
        case is UInt16.Type: "a number in 0–65535"
        case is UInt32.Type: "a number in 0–4294967295"
        case is Int.Type: "a number"
        case is [String].Type: "a list of strings"
        default: type == [Any].self ? "a list" : "\(type)".contains("Array") ? "a list" : "a mapping"
        }
    }
}

/// Semantic checks, collecting every error with where it is.
struct Validator {
    let document: MarkedDocument
    var diagnostics: [ConfigurationDiagnostic] = []

    init(document: MarkedDocument) { self.document = document }

    mutating func error(_ message: String, _ path: any CodingKey...) {
        diagnostics.append(document.diagnostic(message, at: path))
    }

    mutating func error(_ message: String, at path: [any CodingKey]) {
        diagnostics.append(document.diagnostic(message, at: path))
    }

    static func isInterfaceName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count < 16 && !name.contains("/") && !name.contains(where: \.isWhitespace) && name != "." && name != ".."
    }

    mutating func validate(_ raw: ConfigurationDocument) -> SRv6Configuration {
        typealias K = PathKey
        if let namespace = raw.namespace,
           namespace.isEmpty || namespace.contains("/") || namespace.contains(where: \.isWhitespace) || namespace == "." || namespace == ".." {
            error("'\(namespace)' is not a namespace name (as `ip netns` lists them)", K("namespace"))
        }
        let interfaces = raw.interfaces ?? []
        for (n, name) in interfaces.enumerated() where !Self.isInterfaceName(name) {
            error("'\(name)' is not an interface name (1–15 characters, no '/' or spaces)", K("interfaces"), K(intValue: n))
        }
        if Set(interfaces).count != interfaces.count { error("an interface is listed twice", K("interfaces")) }
        var kernelRoutes = KernelRoutesSetting.auto
        if let text = raw.kernelRoutes {
            switch text.lowercased() {
            case "auto": kernelRoutes = .auto
            case "true", "yes", "on": kernelRoutes = .on
            case "false", "no", "off": kernelRoutes = .off
            default: error("kernel-routes '\(text)' is not auto, true or false", K("kernel-routes"))
            }
        }
        var generic = false
        switch raw.xdpMode?.lowercased() {
        case nil, "native": break
        case "generic": generic = true
        case let other?: error("xdp-mode '\(other)' is not native or generic", K("xdp-mode"))
        }

        var locators: [Locator] = []
        for (n, entry) in (raw.locators ?? []).enumerated() {
            let at: [any CodingKey] = [K("locators"), K(intValue: n)]
            if locators.contains(where: { $0.name == entry.name }) { error("a locator named '\(entry.name)' already exists", at: at + [K("name")]) }
            let prefix: IPv6Network
            do { prefix = try IPv6Network(parsing: entry.prefix) } catch {
                diagnostics.append(document.diagnostic(error.description, at: at + [K("prefix")]))
                continue
            }
            var format: MicroSIDFormat?
            switch (entry.blockBits, entry.nodeBits) {
            case (nil, nil): break
            case (let block?, let node?):
                do {
                    format = try MicroSIDFormat(blockBits: block, nodeBits: node)
                    if block > prefix.length {
                        self.error("the uSID block (\(block) bits) is longer than the locator \(prefix)", at: at + [K("block-bits")])
                    }
                } catch { diagnostics.append(document.diagnostic(error.description, at: at + [K("block-bits")])) }
            default: error("give both block-bits and node-bits (uSID lengths), or neither", at: at)
            }
            locators.append(Locator(name: entry.name, prefix: prefix, microSID: format))
        }

        var sids: [LocalSID] = []
        // A proxy's IFACE-IN runs the srv6_localsid loader, which hands all its frames to that one proxy.
        var proxyOf: [String: IPv6Network] = [:]
        for (n, entry) in (raw.localSIDs ?? []).enumerated() {
            let at: [any CodingKey] = [K("local-sids"), K(intValue: n)]
            guard let sid = localSID(entry, at: at, locators: locators) else { continue }
            if sids.contains(where: { $0.prefix == sid.prefix }) {
                diagnostics.append(document.diagnostic("the local SID \(sid.prefix) is defined twice", at: at + [K("sid")]))
                continue
            }
            sids.append(sid)
            guard let proxy = sid.proxy else { continue }
            let key = K(entry.interfaceIn == nil ? "interface" : "interface-in")
            if !interfaces.contains(proxy.interfaceIn) {
                error("\(sid.behaviour.name)'s function sends back on \(proxy.interfaceIn), which is not in 'interfaces': list it, so the "
                      + "srv6_localsid loader takes its packets there", at: at + [key])
            }
            if let other = proxyOf[proxy.interfaceIn] {
                error("\(proxy.interfaceIn) already brings back the function of \(other): one SR proxy per interface-in "
                      + "(a second function needs an interface of its own)", at: at + [key])
            } else {
                proxyOf[proxy.interfaceIn] = sid.prefix
            }
        }
        if sids.count > SRv6ABI.maxSIDs { error("\(sids.count) local SIDs: the srv6 package holds \(SRv6ABI.maxSIDs)", K("local-sids")) }

        var policies: [HeadendPolicy] = []
        for (n, entry) in (raw.policies ?? []).enumerated() {
            let at: [any CodingKey] = [K("policies"), K(intValue: n)]
            if let policy = self.policy(entry, at: at) {
                if policies.contains(where: { $0.destination == policy.destination }) {
                    diagnostics.append(document.diagnostic("a policy for \(policy.destination) already exists", at: at + [K("destination")]))
                } else if case .v6(let network) = policy.destination, sids.contains(where: { $0.prefix == network }) {
                    diagnostics.append(document.diagnostic("\(network) is both a local SID and a policy destination", at: at + [K("destination")]))
                } else {
                    policies.append(policy)
                }
            }
        }
        if policies.count > SRv6ABI.maxPolicies { error("\(policies.count) policies: the srv6 package holds \(SRv6ABI.maxPolicies)", K("policies")) }
        if !(sids.isEmpty && policies.isEmpty) && interfaces.isEmpty {
            error("no interfaces: list where the srv6_localsid loader attaches (interfaces: [eth0])", K("interfaces"))
        }
        return SRv6Configuration(namespace: raw.namespace, interfaces: interfaces, genericXDP: generic,
                                 kernelRoutes: kernelRoutes, locators: locators, localSIDs: sids, policies: policies)
    }

    mutating func localSID(_ entry: ConfigurationDocument.LocalSIDEntry, at: [any CodingKey], locators: [Locator]) -> LocalSID? {
        typealias K = PathKey
        let before = diagnostics.count
        var prefix: IPv6Network?
        do { prefix = try IPv6Network(parsing: entry.sid) } catch {
            diagnostics.append(document.diagnostic(error.description, at: at + [K("sid")]))
        }
        guard let (behaviour, implied) = EndpointBehaviour.parse(entry.behaviour) else {
            let names = EndpointBehaviour.allCases.map(\.name) + ["uN", "uA"]
            diagnostics.append(document.diagnostic("unknown behaviour '\(entry.behaviour)'; expected one of: \(names.joined(separator: ", "))",
                                                   at: at + [K("behaviour")]))
            return nil
        }
        var flavours = implied
        for (n, name) in (entry.flavours ?? []).enumerated() {
            guard let flavour = Flavours.parse(name) else {
                diagnostics.append(document.diagnostic("unknown flavour '\(name)'; expected psp, usp, usd or next-csid",
                                                       at: at + [K("flavours"), K(intValue: n)]))
                continue
            }
            flavours.insert(flavour)
        }
        let disallowed = flavours.subtracting(behaviour.allowedFlavours)
        if !disallowed.isEmpty {
            diagnostics.append(document.diagnostic("\(behaviour.name) takes no flavour \(disallowed.description) (RFC 8986 §4.16, RFC 9800)",
                                                   at: at + [K("flavours")]))
        } else if flavours.isSuperset(of: [.psp, .nextCSID]) {
            // Linux accepts the pair but ignores PSP on a NEXT-C-SID SID, while the fast path
            // would pop: the kernel's fallback and ours would differ on the same packet.
            diagnostics.append(document.diagnostic(
                "psp with next-csid (\(entry.behaviour)) is not supported: the kernel ignores PSP on a NEXT-C-SID SID while the XDP path "
                + "would pop the SRH, so the two would process the same packet differently; drop one of them",
                at: at + [K("flavours")]))
        }
        var locator: Locator?
        if let name = entry.locator {
            locator = locators.first { $0.name == name }
            if locator == nil {
                diagnostics.append(document.diagnostic("no locator named '\(name)'", at: at + [K("locator")]))
            } else if let locator, let prefix, !locator.prefix.contains(prefix) {
                diagnostics.append(document.diagnostic("the SID \(prefix) is not inside locator '\(locator.name)' (\(locator.prefix))",
                                                       at: at + [K("sid")]))
            }
        }
        var format: MicroSIDFormat?
        if flavours.contains(.nextCSID) {
            format = locator?.microSID ?? .linuxDefault
            if entry.locator != nil, locator != nil, locator?.microSID == nil {
                diagnostics.append(document.diagnostic("NEXT-C-SID needs block-bits and node-bits on locator '\(entry.locator ?? "")'",
                                                       at: at + [K("locator")]))
            }
            if let format, let prefix, prefix.length != format.blockBits + format.nodeBits {
                diagnostics.append(document.diagnostic(
                    "a uSID (NEXT-C-SID) local SID is the block and one C-SID: a /\(format.blockBits + format.nodeBits), not /\(prefix.length)",
                    at: at + [K("sid")]))
            }
        }
        // Arguments: each behaviour takes exactly those RFC 8986 gives it (its row).
        let row = behaviour.row, takes = row.required.union(row.optional)
        if row.required.contains(.table) {
            if entry.table == nil {
                diagnostics.append(document.diagnostic("\(behaviour.name) needs 'table' (254 is the main table)", at: at))
            } else if entry.table == 0 {
                diagnostics.append(document.diagnostic("table 0 is not a routing table (254 is the main one)", at: at + [K("table")]))
            }
        } else if entry.table != nil {
            diagnostics.append(document.diagnostic("\(behaviour.name) takes no table", at: at + [K("table")]))
        }
        var nh6: IPv6Address?, nh4: IPv4Address?
        if let text = entry.nextHop {
            if takes.contains(.nextHop6) {
                do { nh6 = try IPv6Address(parsing: text) } catch {
                    diagnostics.append(document.diagnostic(error.description, at: at + [K("next-hop")]))
                }
            } else if takes.contains(.nextHop4) {
                do { nh4 = try IPv4Address(parsing: text) } catch {
                    diagnostics.append(document.diagnostic(error.description, at: at + [K("next-hop")]))
                }
            } else {
                diagnostics.append(document.diagnostic("\(behaviour.name) takes no next-hop", at: at + [K("next-hop")]))
            }
        } else if !row.required.nextHop.isEmpty {
            diagnostics.append(document.diagnostic("\(behaviour.name) needs 'next-hop'", at: at))
        }
        if let interface = entry.interface {
            if !takes.contains(.interface) {
                diagnostics.append(document.diagnostic("\(behaviour.name) takes no interface", at: at + [K("interface")]))
            } else if !Self.isInterfaceName(interface) {
                diagnostics.append(document.diagnostic("'\(interface)' is not an interface name", at: at + [K("interface")]))
            }
        }
        let proxy = proxyFunction(entry, behaviour: behaviour, at: at)
        if !row.required.isSubset(of: [.table, .nextHop6, .nextHop4]), entry.interface == nil {
            diagnostics.append(document.diagnostic("\(behaviour.name) needs 'interface' (where its function is)", at: at))
        }
        guard diagnostics.count == before, let prefix else { return nil }
        var sid = LocalSID(prefix: prefix, behaviour: behaviour, flavours: flavours, table: entry.table, nextHop6: nh6,
                           nextHop4: proxy?.nextHop4 ?? nh4, interface: entry.interface, microSID: format, count: entry.count ?? false)
        sid.proxy = proxy?.function
        return sid
    }

    /// An SR proxy's own keys: refused on every other behaviour; for a proxy, the inner types
    /// with a next hop each, End.AD's age, End.AS's headers.
    mutating func proxyFunction(_ entry: ConfigurationDocument.LocalSIDEntry, behaviour: EndpointBehaviour, at: [any CodingKey]) -> (function: ProxyFunction, nextHop4: IPv4Address?)? {
        typealias K = PathKey
        let takes = behaviour.row.required.union(behaviour.row.optional)
        let given: [(String, SIDAttributes, Bool)] = [
            ("interface-in", .interfaceIn, entry.interfaceIn != nil), ("next-hop4", .nextHop4, entry.nextHop4 != nil),
            ("inner", .inner, entry.inner != nil), ("age", .age, entry.age != nil), ("source", .cache, entry.source != nil),
            ("segments", .cache, entry.segments != nil), ("hop-limit", .cache, entry.hopLimit != nil),
        ]
        for (key, attribute, present) in given where present && (!takes.contains(attribute) || (key == "next-hop4" && !behaviour.isProxy)) {
            diagnostics.append(document.diagnostic("\(behaviour.name) takes no \(key)" + (behaviour.isProxy ? "" : " (only the SR proxies End.AS, End.AD, End.AM do)"),
                                                   at: at + [K(key)]))
        }
        guard behaviour.isProxy else { return nil }
        let before = diagnostics.count
        var nh4: IPv4Address?
        if let text = entry.nextHop4, takes.contains(.nextHop4) {
            do { nh4 = try IPv4Address(parsing: text) } catch {
                diagnostics.append(document.diagnostic(error.description, at: at + [K("next-hop4")]))
            }
        }
        if let name = entry.interfaceIn, !Self.isInterfaceName(name) {
            diagnostics.append(document.diagnostic("'\(name)' is not an interface name", at: at + [K("interface-in")]))
        }
        // The inner types: as listed, else those a next hop is given for.
        var inner: InnerTypes = behaviour == .endAM ? .ipv6 : []
        if let names = entry.inner {
            for (n, name) in names.enumerated() {
                guard let type = InnerTypes.names.first(where: { $0.0 == name.lowercased() })?.1 else {
                    diagnostics.append(document.diagnostic("unknown inner type '\(name)'; expected ipv6, ipv4 or ethernet",
                                                           at: at + [K("inner"), K(intValue: n)]))
                    continue
                }
                inner.insert(type)
            }
        } else if behaviour != .endAM {
            if entry.nextHop != nil { inner.insert(.ipv6) }
            if entry.nextHop4 != nil { inner.insert(.ipv4) }
        }
        if inner.contains(.ethernet) && behaviour != .endAM {  // End.AM takes no inner at all (said above)
            // L2 mode: the function gets whole frames out of its interface, no next hop.
            if inner != .ethernet {
                diagnostics.append(document.diagnostic("inner ethernet goes alone: in L2 mode the function gets every frame whole, "
                                                       + "IPv6 and IPv4 included", at: at + [K("inner")]))
            }
            for key in ["next-hop", "next-hop4"] where key == "next-hop" ? entry.nextHop != nil : entry.nextHop4 != nil {
                diagnostics.append(document.diagnostic("\(key) is not used with inner ethernet: frames go out of 'interface' as they came",
                                                       at: at + [K(key)]))
            }
        } else if behaviour != .endAM {
            if inner.isEmpty && entry.inner == nil {
                diagnostics.append(document.diagnostic("\(behaviour.name) needs the function's address: 'next-hop' (IPv6 packets), 'next-hop4' (IPv4) or both",
                                                       at: at))
            }
            if inner.contains(.ipv6) && entry.nextHop == nil {
                diagnostics.append(document.diagnostic("\(behaviour.name) with inner ipv6 needs 'next-hop' (the function's IPv6 address)", at: at))
            }
            if inner.contains(.ipv4) && entry.nextHop4 == nil {
                diagnostics.append(document.diagnostic("\(behaviour.name) with inner ipv4 needs 'next-hop4' (the function's IPv4 address)", at: at))
            }
        }
        var headers: ProxyHeaders?
        if behaviour == .endAS {
            var segments: [IPv6Address] = []
            for (n, text) in (entry.segments ?? []).enumerated() {
                do { segments.append(try IPv6Address(parsing: text)) } catch {
                    diagnostics.append(document.diagnostic(error.description, at: at + [K("segments"), K(intValue: n)]))
                }
            }
            let count = entry.segments?.count ?? 0
            if !(1...SRv6ABI.maxSegments).contains(count) {
                diagnostics.append(document.diagnostic(
                    "End.AS needs 'segments': the 1–\(SRv6ABI.maxSegments) SIDs its function's packets go through next, not \(count)",
                    at: at + (entry.segments == nil ? [] : [K("segments")])))
            }
            var source: IPv6Address?
            if let text = entry.source {
                do { source = try IPv6Address(parsing: text) } catch {
                    diagnostics.append(document.diagnostic(error.description, at: at + [K("source")]))
                }
            } else {
                diagnostics.append(document.diagnostic("End.AS needs 'source': the outer source address of its function's packets", at: at))
            }
            if let hopLimit = entry.hopLimit, !(1...255).contains(hopLimit) {
                diagnostics.append(document.diagnostic("hop-limit \(hopLimit) is not in 1–255", at: at + [K("hop-limit")]))
            }
            if let source, !segments.isEmpty, diagnostics.count == before {
                headers = ProxyHeaders(source: source, segments: segments, hopLimit: UInt8(entry.hopLimit ?? 64))
            }
        }
        guard diagnostics.count == before, let interface = entry.interface else { return nil }
        return (ProxyFunction(interfaceIn: entry.interfaceIn ?? interface, inner: inner, ageMilliseconds: entry.age ?? 1000,
                              headers: headers), nh4)
    }

    mutating func policy(_ entry: ConfigurationDocument.PolicyEntry, at: [any CodingKey]) -> HeadendPolicy? {
        typealias K = PathKey
        let before = diagnostics.count
        var destination: DestinationPrefix?
        do { destination = try DestinationPrefix(parsing: entry.destination) } catch {
            diagnostics.append(document.diagnostic(error.description, at: at + [K("destination")]))
        }
        let mode = HeadendMode.parse(entry.mode)
        if mode == nil {
            diagnostics.append(document.diagnostic("unknown mode '\(entry.mode)'; expected encaps, encaps.red, insert, insert.red or l2encap",
                                                   at: at + [K("mode")]))
        }
        if let mode, mode.needsIPv6Input, case .v4? = destination {
            diagnostics.append(document.diagnostic("\(mode.rfcName) inserts an SRH into IPv6 packets: an IPv4 destination cannot use it",
                                                   at: at + [K("mode")]))
        }
        var segments: [IPv6Address] = []
        for (n, text) in entry.segments.enumerated() {
            do { segments.append(try IPv6Address(parsing: text)) } catch {
                diagnostics.append(document.diagnostic(error.description, at: at + [K("segments"), K(intValue: n)]))
            }
        }
        if entry.segments.isEmpty || entry.segments.count > SRv6ABI.maxSegments {
            diagnostics.append(document.diagnostic("a policy has 1–\(SRv6ABI.maxSegments) segments, not \(entry.segments.count)",
                                                   at: at + [K("segments")]))
        } else if mode == .insertRed && entry.segments.count < 2 {
            // The reduced SRH leaves the first SID out: with one, none of the policy's SIDs
            // would be in it (srv6_h_insert_red refuses such an entry).
            diagnostics.append(document.diagnostic(
                "insert.red needs 2–\(SRv6ABI.maxSegments) segments, not 1: the reduced SRH leaves the first one out; use mode insert",
                at: at + [K("segments")]))
        }
        var source: IPv6Address?
        do { source = try IPv6Address(parsing: entry.source) } catch {
            diagnostics.append(document.diagnostic(error.description, at: at + [K("source")]))
        }
        if let hopLimit = entry.hopLimit, !(1...255).contains(hopLimit) {
            diagnostics.append(document.diagnostic("hop-limit \(hopLimit) is not in 1–255", at: at + [K("hop-limit")]))
        }
        if let pmFlow = entry.pmFlow {
            if !(1...SRv6ABI.maxPMFlow).contains(pmFlow) {
                diagnostics.append(document.diagnostic("pm-flow \(pmFlow) is not a pm flow ID (1–\(SRv6ABI.maxPMFlow))", at: at + [K("pm-flow")]))
            } else if let mode, mode.needsIPv6Input {
                diagnostics.append(document.diagnostic(
                    "\(mode.rfcName) does not mark: pm-flow needs an encapsulating mode (encaps, encaps.red, l2encap); "
                        + "mark inserted packets with pm_mark in a chain", at: at + [K("pm-flow")]))
            }
        }
        guard diagnostics.count == before, let destination, let mode, let source else { return nil }
        var policy = HeadendPolicy(destination: destination, mode: mode, segments: segments, source: source,
                                   hopLimit: UInt8(entry.hopLimit ?? 64), tag: entry.tag ?? 0, flags: entry.flags ?? 0)
        policy.pmFlow = UInt32(entry.pmFlow ?? 0)
        return policy
    }
}
