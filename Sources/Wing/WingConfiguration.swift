import Foundation
import NetKit
import SRv6
import Yams

/// What an application asks of its path (HawkWing's intent names).
public enum WingIntentKind: String, Sendable, Hashable, CaseIterable, Codable {
    case highBandwidth = "high-bandwidth", lowBandwidth = "low-bandwidth", lowLatency = "low-latency",
         lowPacketLoss = "low-packet-loss", lowJitter = "low-jitter", flexAlgo = "flex-algo", sfc, lowUtilization = "low-utilization"

    /// HawkEye's proto IntentType number (0 is UNSPECIFIED there).
    public var protoNumber: Int {
        switch self {
        case .highBandwidth: 1
        case .lowBandwidth: 2
        case .lowLatency: 3
        case .lowPacketLoss: 4
        case .lowJitter: 5
        case .flexAlgo: 6
        case .sfc: 7
        case .lowUtilization: 8
        }
    }
}

/// One intent of an application: a kind and its parameters.
public struct WingIntent: Sendable, Hashable, Codable {
    public var kind: WingIntentKind
    /// The bounds HawkEye's path computation is given (not for sfc and flex-algo).
    public var minValue: Int?
    public var maxValue: Int?
    /// sfc: the service functions, in the order traffic goes through them.
    public var functions: [String]
    /// flex-algo: the algorithm number (1–255).
    public var flexAlgorithm: Int?

    public init(kind: WingIntentKind, minValue: Int? = nil, maxValue: Int? = nil, functions: [String] = [], flexAlgorithm: Int? = nil) {
        self.kind = kind
        self.minValue = minValue
        self.maxValue = maxValue
        self.functions = functions
        self.flexAlgorithm = flexAlgorithm
    }
}

/// Traffic to one destination port of a service, with its static path and its intents.
public struct WingApplication: Sendable, Hashable, Codable {
    /// The destination port; 0 is ICMPv6 (hike's extension: ping's path).
    public var port: UInt16
    /// The static SID list, in traversal order (empty: the path comes from HawkEye).
    public var segments: [IPv6Address]
    public var intents: [WingIntent]
    /// hike's addition (`encap: true`): the packet goes inside an outer IPv6 header with the SRH
    /// (H.Encaps); the last SID must decapsulate (End.DT6, End.DX6).
    public var encapsulate: Bool

    public init(port: UInt16, segments: [IPv6Address] = [], intents: [WingIntent] = [], encapsulate: Bool = false) {
        self.port = port
        self.segments = segments
        self.intents = intents
        self.encapsulate = encapsulate
    }
}

/// A destination the client steers, found by name and/or addresses.
public struct WingService: Sendable, Hashable, Codable {
    /// 1-based, in file order (what HawkWing's maps are keyed by).
    public var id: UInt32
    public var name: String
    public var domainName: String?
    public var addresses: [IPv6Address]
    public var applications: [WingApplication]

    public init(id: UInt32, name: String, domainName: String? = nil, addresses: [IPv6Address] = [], applications: [WingApplication]) {
        self.id = id
        self.name = name
        self.domainName = domainName
        self.addresses = addresses
        self.applications = applications
    }
}

/// Where the HawkEye controller listens.
public struct HawkEyeEndpoint: Sendable, Hashable, Codable {
    public var address: IPv6Address
    public var port: UInt16

    public init(address: IPv6Address, port: UInt16) {
        self.address = address
        self.port = port
    }
}

/// A validated HawkWing client configuration.
public struct WingConfiguration: Sendable, Hashable, Codable {
    public var clientAddress: IPv6Address?
    /// nil when hawkeye is missing or not enabled.
    public var hawkeye: HawkEyeEndpoint?
    /// In file order.
    public var services: [WingService]

    public init(clientAddress: IPv6Address? = nil, hawkeye: HawkEyeEndpoint? = nil, services: [WingService]) {
        self.clientAddress = clientAddress
        self.hawkeye = hawkeye
        self.services = services
    }

    /// Reads and validates a file; every problem found is reported, each with its line and column.
    public static func load(file path: String) throws(WingError) -> WingConfiguration {
        switch ConfigurationDiagnostic.readFile(path) {
        case .success(let text): return try parse(text, file: path)
        case .failure(let diagnostic): throw .configuration([diagnostic])
        }
    }

    /// Parses and validates YAML text; file names the source in diagnostics.
    public static func parse(_ text: String, file: String = "<input>") throws(WingError) -> WingConfiguration {
        let marked: MarkedDocument
        do {
            marked = try MarkedDocument.mapping(text, file: file, expecting: "hawkeye:, services: …")
        } catch {
            throw .configuration([error])
        }
        // Unknown keys do not stop decoding: a misspelt key and what it leaves missing are both reported.
        let unknown = marked.wingUnknownKeys()
        let document: WingConfigurationDocument
        do {
            document = try marked.decode(WingConfigurationDocument.self)
        } catch {
            throw .configuration((unknown + [error]).inFileOrder)
        }
        var validator = WingValidator(document: marked)
        let configuration = validator.validate(document)
        let diagnostics = unknown + validator.diagnostics
        if !diagnostics.isEmpty { throw .configuration(diagnostics.inFileOrder) }
        return configuration
    }
}

/// HawkWing's validation rules, collecting every error with where it is.
struct WingValidator {
    typealias K = PathKey
    let document: MarkedDocument
    var diagnostics: [ConfigurationDiagnostic] = []

    /// What an SRH holds besides the destination (segments left is 8 bits, one entry is the destination).
    static let maxSegments = 126
    static let intentNames = WingIntentKind.allCases.map(\.rawValue).joined(separator: ", ")

    init(document: MarkedDocument) { self.document = document }

    mutating func error(_ message: String, at path: [any CodingKey]) {
        diagnostics.append(document.diagnostic(message, at: path))
    }

    /// For what is missing from a named section: at the section's key.
    mutating func error(_ message: String, atKeyOf path: [any CodingKey]) {
        diagnostics.append(document.diagnostic(message, atKeyOf: path))
    }

    /// An IPv6 address, not IPv4 and not IPv4-mapped (HawkWing refuses what Go's To4 accepts).
    mutating func address(_ text: String, at path: [any CodingKey], what: String) -> IPv6Address? {
        let address: IPv6Address
        do { address = try IPv6Address(parsing: text) } catch {
            self.error("\(what) \(error.message)", at: path)
            return nil
        }
        if address.bytes.prefix(12) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] {
            self.error("\(what) '\(text)' is an IPv4-mapped address: give an IPv6 address", at: path)
            return nil
        }
        return address
    }

    /// A DNS name: labels of 1–63 letters, digits and hyphens, not starting or ending with a
    /// hyphen, 253 characters in all; a trailing dot (the root) allowed.
    static func isDomainName(_ name: String) -> Bool {
        let text = name.hasSuffix(".") ? name.dropLast() : Substring(name)
        guard !text.isEmpty, text.utf8.count <= 253 else { return false }
        return text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            (1...63).contains(label.utf8.count) && label.first != "-" && label.last != "-"
                && label.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x41...0x5a).contains($0) || (0x61...0x7a).contains($0) || $0 == 0x2d }
        }
    }

    mutating func validate(_ raw: WingConfigurationDocument) -> WingConfiguration {
        let clientAddress = raw.clientIPv6Address.flatMap { address($0, at: [K("client_ipv6_address")], what: "client_ipv6_address") }
        // Whether hawkeye is on is what was written: a bad address must not add "no sid" errors too.
        let hawkeyeEnabled = raw.hawkeye?.enabled == true
        let hawkeye = raw.hawkeye.flatMap { self.hawkeye($0) }

        let at: [any CodingKey] = [K("services")]
        let names = document.node(at: at)?.mapping?.keys.compactMap(\.string) ?? []
        if names.isEmpty {
            error("no services: list at least one under 'services' (a name, its domain_name or ipv6_addresses, its applications)", atKeyOf: at)
        }
        var services: [WingService] = []
        for (n, name) in names.enumerated() {
            guard let entry = raw.services?[name] else { continue }
            services.append(service(entry, name: name, id: UInt32(n + 1), hawkeyeEnabled: hawkeyeEnabled))
        }
        return WingConfiguration(clientAddress: clientAddress, hawkeye: hawkeye, services: services)
    }

    mutating func hawkeye(_ entry: WingConfigurationDocument.HawkEyeEntry) -> HawkEyeEndpoint? {
        let at: [any CodingKey] = [K("hawkeye")]
        let address = entry.address.flatMap { self.address($0, at: at + [K("address")], what: "hawkeye address") }
        var port: UInt16?
        if let number = entry.port {
            // HawkWing: gt=0, lt=65535.
            if (1...65534).contains(number) { port = UInt16(number) } else {
                error("hawkeye port \(number) is not in 1–65534", at: at + [K("port")])
            }
        }
        guard entry.enabled == true else { return nil }
        if entry.address == nil { error("hawkeye is enabled but has no 'address' (HawkEye's IPv6 address)", atKeyOf: at) }
        if entry.port == nil { error("hawkeye is enabled but has no 'port' (1–65534)", atKeyOf: at) }
        guard let address, let port else { return nil }
        return HawkEyeEndpoint(address: address, port: port)
    }

    mutating func service(_ entry: WingConfigurationDocument.ServiceEntry, name: String, id: UInt32, hawkeyeEnabled: Bool) -> WingService {
        let at: [any CodingKey] = [K("services"), K(name)]
        var domainName: String?
        if let text = entry.domainName {
            if Self.isDomainName(text) { domainName = text } else {
                error("'\(text)' is not a domain name (labels of letters, digits and hyphens, 1–63 characters each, 253 in all)",
                      at: at + [K("domain_name")])
            }
        }
        var addresses: [IPv6Address] = []
        for (n, text) in (entry.ipv6Addresses ?? []).enumerated() {
            if let address = address(text, at: at + [K("ipv6_addresses"), K(intValue: n)], what: "ipv6_addresses entry") {
                addresses.append(address)
            }
        }
        if entry.domainName == nil && (entry.ipv6Addresses ?? []).isEmpty {
            error("service \(name) needs 'domain_name' or 'ipv6_addresses' (or both): how its traffic is recognised", atKeyOf: at)
        }
        let entries = entry.applications ?? []
        if entries.isEmpty {
            error("service \(name) has no applications: list at least one (a port with its sid or intents)",
                  atKeyOf: entry.applications == nil ? at : at + [K("applications")])
        }
        var applications: [WingApplication] = []
        var firstWithPort: [Int: Int] = [:]
        for (n, application) in entries.enumerated() {
            let appAt = at + [K("applications"), K(intValue: n)]
            if let port = application.port {
                if let first = firstWithPort[port] {
                    error("port \(port) is given twice in service \(name) (applications \(first + 1) and \(n + 1))", at: appAt + [K("port")])
                } else {
                    firstWithPort[port] = n
                }
            }
            let label = application.port.map { "application port \($0) of \(name)" } ?? "application \(n + 1) of \(name)"
            if let built = self.application(application, at: appAt, label: label, hawkeyeEnabled: hawkeyeEnabled) {
                applications.append(built)
            }
        }
        return WingService(id: id, name: name, domainName: domainName, addresses: addresses, applications: applications)
    }

    mutating func application(_ entry: WingConfigurationDocument.ApplicationEntry, at: [any CodingKey], label: String,
                              hawkeyeEnabled: Bool) -> WingApplication? {
        var port: UInt16?
        if let number = entry.port {
            if (0...65535).contains(number) { port = UInt16(number) } else {
                error("port \(number) is not in 0–65535 (0 is ICMPv6)", at: at + [K("port")])
            }
        } else {
            error("\(label) needs 'port' (0–65535; 0 is ICMPv6)", at: at)
        }
        var segments: [IPv6Address] = []
        if let sids = entry.sid {
            if sids.isEmpty {
                error("\(label) has an empty 'sid': list 1–\(Self.maxSegments) SIDs or leave it out", at: at + [K("sid")])
            } else if sids.count > Self.maxSegments {
                error("\(label) has \(sids.count) SIDs: an SRH holds at most \(Self.maxSegments) besides the destination", at: at + [K("sid")])
            }
            for (n, text) in sids.enumerated() {
                if let sid = address(text, at: at + [K("sid"), K(intValue: n)], what: "sid") { segments.append(sid) }
            }
        }
        let entries = entry.intents ?? []
        if entry.sid == nil && entries.isEmpty { error("\(label) needs 'sid' or 'intents'", at: at) }

        var intents: [WingIntent] = []
        var seen: Set<WingIntentKind> = []
        for (k, intentEntry) in entries.enumerated() {
            let intentAt = at + [K("intents"), K(intValue: k)]
            guard let name = intentEntry.intent else {
                error("an intent of \(label) needs 'intent' (one of: \(Self.intentNames))", at: intentAt)
                continue
            }
            guard let kind = WingIntentKind(rawValue: name) else {
                error("unknown intent '\(name)'; expected one of: \(Self.intentNames)", at: intentAt + [K("intent")])
                continue
            }
            if !seen.insert(kind).inserted { error("the intent \(name) is listed twice for \(label)", at: intentAt + [K("intent")]) }
            // HawkWing's order: sfc first, flex-algo first or right after sfc.
            if kind == .sfc && k != 0 { error("sfc must be the first intent of \(label)", at: intentAt + [K("intent")]) }
            if kind == .flexAlgo && !(k == 0 || (k == 1 && entries[0].intent == WingIntentKind.sfc.rawValue)) {
                error("flex-algo must be the first intent of \(label), or the second right after sfc", at: intentAt + [K("intent")])
            }
            if let intent = self.intent(intentEntry, kind: kind, at: intentAt) { intents.append(intent) }
            // Without HawkEye nothing computes a path for these: the static one must be there.
            if (kind == .sfc || kind == .flexAlgo) && entry.sid == nil && !hawkeyeEnabled {
                error("\(label) has \(kind == .sfc ? "an" : "a") \(name) intent but no 'sid': without hawkeye a static SID list is needed",
                      at: intentAt + [K("intent")])
            }
        }
        if entry.encap == true, entry.sid == nil, !hawkeyeEnabled {
            error("\(label) has encap but no 'sid' to encapsulate with", at: at + [K("encap")])
        }
        guard let port else { return nil }
        return WingApplication(port: port, segments: segments, intents: intents, encapsulate: entry.encap ?? false)
    }

    mutating func intent(_ entry: WingConfigurationDocument.IntentEntry, kind: WingIntentKind, at: [any CodingKey]) -> WingIntent? {
        let before = diagnostics.count
        let name = kind.rawValue
        if kind == .sfc || kind == .flexAlgo {
            if entry.minValue != nil { error("\(name) takes no min_value or max_value", at: at + [K("min_value")]) }
            if entry.maxValue != nil { error("\(name) takes no min_value or max_value", at: at + [K("max_value")]) }
        } else {
            if let value = entry.minValue, value < 0 { error("min_value \(value) is negative", at: at + [K("min_value")]) }
            if let value = entry.maxValue, value < 0 { error("max_value \(value) is negative", at: at + [K("max_value")]) }
            if let min = entry.minValue, let max = entry.maxValue, min > max {
                error("min_value \(min) is greater than max_value \(max)", at: at + [K("min_value")])
            }
        }
        if kind == .flexAlgo {
            // RFC 9350 has 128–255, but HawkWing's own example uses 1.
            if let number = entry.flexAlgoNumber {
                if !(1...255).contains(number) { error("flex_algo_number \(number) is not in 1–255", at: at + [K("flex_algo_number")]) }
            } else {
                error("flex-algo needs 'flex_algo_number' (1–255)", at: at + [K("intent")])
            }
        } else if entry.flexAlgoNumber != nil {
            error("'flex_algo_number' is only for flex-algo intents, not \(name)", at: at + [K("flex_algo_number")])
        }
        if kind == .sfc {
            if let functions = entry.functions, !functions.isEmpty {
                for (n, function) in functions.enumerated() where function.isEmpty {
                    error("an empty function name", at: at + [K("functions"), K(intValue: n)])
                }
            } else {
                error("sfc needs 'functions' (the service functions, in order)", at: at + [K(entry.functions == nil ? "intent" : "functions")])
            }
        } else if entry.functions != nil {
            error("'functions' is only for sfc intents, not \(name)", at: at + [K("functions")])
        }
        guard diagnostics.count == before else { return nil }
        return WingIntent(kind: kind, minValue: entry.minValue, maxValue: entry.maxValue, functions: entry.functions ?? [],
                          flexAlgorithm: entry.flexAlgoNumber)
    }
}
