import Foundation
import Yams

/// The YAML document as written, before validation (Codable; keys in kebab-case).
///
///     namespace: r2                 # optional: where the interfaces are (default: hike's own)
///     interfaces: [veth0, veth1]    # the srv6_localsid loader is attached to each
///     xdp-mode: native              # or generic
///     kernel-routes: auto           # mirror SIDs and policies as kernel seg6local/seg6 routes:
///                                   # auto (where the kernel has them), true or false
///     locators: [{name, prefix, block-bits, node-bits}]
///     local-sids: [{sid, behaviour, locator, table, next-hop, interface, flavours, count,
///                   next-hop4, interface-in, inner, age, source, segments, hop-limit}]  # the last seven: SR proxies
///     policies: [{destination, mode, segments, source, hop-limit, tag, flags}]
struct ConfigurationDocument: Codable {
    var namespace: String?
    var interfaces: [String]?
    var xdpMode: String?
    var kernelRoutes: String?
    var locators: [LocatorEntry]?
    var localSIDs: [LocalSIDEntry]?
    var policies: [PolicyEntry]?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case namespace, interfaces, xdpMode = "xdp-mode", kernelRoutes = "kernel-routes", locators
        case localSIDs = "local-sids", policies
    }

    struct LocatorEntry: Codable {
        var name: String
        var prefix: String
        var blockBits: Int?
        var nodeBits: Int?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case name, prefix, blockBits = "block-bits", nodeBits = "node-bits"
        }
    }

    struct LocalSIDEntry: Codable {
        var sid: String
        var behaviour: String
        var locator: String?
        var table: UInt32?
        var nextHop: String?
        var interface: String?
        var flavours: [String]?
        var count: Bool?
        var nextHop4: String?
        var interfaceIn: String?
        var inner: [String]?
        var age: UInt32?
        var source: String?
        var segments: [String]?
        var hopLimit: Int?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case sid, behaviour, locator, table, nextHop = "next-hop", interface, flavours, count
            case nextHop4 = "next-hop4", interfaceIn = "interface-in", inner, age, source, segments, hopLimit = "hop-limit"
        }
    }

    struct PolicyEntry: Codable {
        var destination: String
        var mode: String
        var segments: [String]
        var source: String
        var hopLimit: Int?
        var tag: UInt16?
        var flags: UInt8?
        var pmFlow: Int?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case destination, mode, segments, source, hopLimit = "hop-limit", tag, flags, pmFlow = "pm-flow"
        }
    }
}

/// A parsed YAML file that can say where a value came from.
public struct MarkedDocument {
    public let file: String
    public let root: Node

    public init(file: String, root: Node) {
        self.file = file
        self.root = root
    }

    /// The node at a coding path (mapping keys, sequence indices), if there is one.
    public func node(at path: [any CodingKey]) -> Node? {
        var node: Node? = root
        for key in path {
            guard let current = node else { return nil }
            if let index = key.intValue, let sequence = current.sequence {
                node = index < sequence.count ? sequence[index] : nil
            } else {
                node = current.mapping?[key.stringValue]
            }
        }
        return node
    }

    /// A diagnostic at the deepest node of path that exists.
    public func diagnostic(_ message: String, at path: [any CodingKey]) -> ConfigurationDiagnostic {
        var prefix = path
        while !prefix.isEmpty, node(at: prefix)?.mark == nil { prefix.removeLast() }
        let mark = node(at: prefix)?.mark ?? root.mark
        return ConfigurationDiagnostic(file: file, line: mark?.line ?? 0, column: mark?.column ?? 0, message: message)
    }

    /// Keys of node (a mapping) that are not in allowed, each at its key; what names the node in
    /// the message. Typos must not pass silently.
    public func unknownKeys(in node: Node?, allowed: [String], what: String) -> [ConfigurationDiagnostic] {
        guard let mapping = node?.mapping else { return [] }
        var out: [ConfigurationDiagnostic] = []
        for (key, _) in mapping {
            guard let name = key.string, !allowed.contains(name) else { continue }
            let mark = key.mark
            out.append(ConfigurationDiagnostic(file: file, line: mark?.line ?? 0, column: mark?.column ?? 0,
                                               message: "unknown key '\(name)' in \(what); expected one of: \(allowed.joined(separator: ", "))"))
        }
        return out
    }

    /// Keys that no CodingKeys of their level knows, in an SRv6 configuration.
    func unknownKeys() -> [ConfigurationDiagnostic] {
        var out = unknownKeys(in: root, allowed: ConfigurationDocument.CodingKeys.allCases.map(\.rawValue), what: "the configuration")
        for (list, allowed, what) in [("locators", ConfigurationDocument.LocatorEntry.CodingKeys.allCases.map(\.rawValue), "a locator"),
                                      ("local-sids", ConfigurationDocument.LocalSIDEntry.CodingKeys.allCases.map(\.rawValue), "a local SID"),
                                      ("policies", ConfigurationDocument.PolicyEntry.CodingKeys.allCases.map(\.rawValue), "a policy")] {
            for item in root.mapping?[list]?.sequence ?? [] { out += unknownKeys(in: item, allowed: allowed, what: what) }
        }
        return out
    }
}

/// A coding path element made from a name or an index.
public struct PathKey: CodingKey {
    public var stringValue: String
    public var intValue: Int?
    public init(stringValue: String) { self.stringValue = stringValue }
    public init(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
    public init(_ name: String) { self.init(stringValue: name) }
}

extension MarkedDocument {
    /// Composes YAML text into a document whose root is a mapping; the diagnostic says where it
    /// is not (a YAML error, a key given twice, an empty file, a root that is not a mapping).
    public static func mapping(_ text: String, file: String, expecting keys: String) throws(ConfigurationDiagnostic) -> MarkedDocument {
        let composed: Node?
        do {
            composed = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            if case .duplicatedKeysInMapping(let duplicates, let context) = error {
                throw ConfigurationDiagnostic(file: file, line: context.mark.line, column: context.mark.column,
                                              message: "the key '\(duplicates.joined(separator: "', '"))' is given twice in one mapping")
            }
            throw SRv6Configuration.yamlDiagnostic(error, file: file)
        } catch {
            throw ConfigurationDiagnostic(file: file, line: 0, column: 0, message: "\(error)")
        }
        guard let root = composed else {
            throw ConfigurationDiagnostic(file: file, line: 1, column: 1, message: "the file is empty: it needs \(keys)")
        }
        let document = MarkedDocument(file: file, root: root)
        guard root.mapping != nil else { throw document.diagnostic("the file must be a mapping (\(keys))", at: []) }
        return document
    }

    /// The document decoded as written, before validation; a decoding error at its place.
    public func decode<T: Decodable>(_ type: T.Type) throws(ConfigurationDiagnostic) -> T {
        do {
            return try YAMLDecoder().decode(type, from: root)
        } catch let error as DecodingError {
            throw SRv6Configuration.decodingDiagnostic(error, in: self)
        } catch {
            throw diagnostic("\(error)", at: [])
        }
    }
}

extension Array where Element == ConfigurationDiagnostic {
    /// The diagnostics in file order (ties keep the order they were found in).
    public var inFileOrder: [ConfigurationDiagnostic] {
        enumerated().sorted { a, b in
            (a.element.line, a.element.column, a.offset) < (b.element.line, b.element.column, b.offset)
        }.map(\.element)
    }
}
