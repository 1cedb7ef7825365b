import Foundation
import SRv6
import Yams

/// HawkWing's client YAML as written, before validation (Codable; keys in snake_case). Everything
/// is optional and numbers are Int, so that the validator, not the decoder, reports what is missing
/// or out of range, every problem at once.
///
///     client_ipv6_address: fcbb:cc00:1::a          # optional
///     hawkeye: {enabled, address, port}             # the controller; off when missing
///     services:                                     # name → service, in file order
///       service1:
///         domain_name: service1.com                 # and/or ipv6_addresses: [...]
///         applications:
///           - port: 80
///             sid: [fcbb:bb00:1::2]                 # the static path
///             intents: [{intent, min_value, max_value, functions, flex_algo_number}]
struct WingConfigurationDocument: Codable {
    var clientIPv6Address: String?
    var hawkeye: HawkEyeEntry?
    var services: [String: ServiceEntry]?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case clientIPv6Address = "client_ipv6_address", hawkeye, services
    }

    struct HawkEyeEntry: Codable {
        var enabled: Bool?
        var address: String?
        var port: Int?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case enabled, address, port
        }
    }

    struct ServiceEntry: Codable {
        var domainName: String?
        var ipv6Addresses: [String]?
        var applications: [ApplicationEntry]?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case domainName = "domain_name", ipv6Addresses = "ipv6_addresses", applications
        }
    }

    struct ApplicationEntry: Codable {
        var port: Int?
        var sid: [String]?
        var intents: [IntentEntry]?
        /// hike's addition: an outer IPv6 header and SRH (H.Encaps) instead of an SRH inserted.
        var encap: Bool?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case port, sid, intents, encap
        }
    }

    struct IntentEntry: Codable {
        var intent: String?
        var minValue: Int?
        var maxValue: Int?
        var functions: [String]?
        var flexAlgoNumber: Int?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case intent, minValue = "min_value", maxValue = "max_value", functions, flexAlgoNumber = "flex_algo_number"
        }
    }
}

extension MarkedDocument {
    /// Keys that HawkWing's UnmarshalExact would refuse, at every level of a Wing configuration.
    func wingUnknownKeys() -> [ConfigurationDiagnostic] {
        typealias D = WingConfigurationDocument
        func keys<K: CodingKey & CaseIterable & RawRepresentable>(_: K.Type) -> [String] where K.RawValue == String {
            K.allCases.map(\.rawValue)
        }
        var out = unknownKeys(in: root, allowed: keys(D.CodingKeys.self), what: "the configuration")
        out += unknownKeys(in: root.mapping?["hawkeye"], allowed: keys(D.HawkEyeEntry.CodingKeys.self), what: "hawkeye")
        for (name, service) in root.mapping?["services"]?.mapping ?? [:] {
            let serviceName = name.string ?? "?"
            out += unknownKeys(in: service, allowed: keys(D.ServiceEntry.CodingKeys.self), what: "service \(serviceName)")
            for application in service.mapping?["applications"]?.sequence ?? [] {
                out += unknownKeys(in: application, allowed: keys(D.ApplicationEntry.CodingKeys.self), what: "an application of \(serviceName)")
                for intent in application.mapping?["intents"]?.sequence ?? [] {
                    out += unknownKeys(in: intent, allowed: keys(D.IntentEntry.CodingKeys.self), what: "an intent")
                }
            }
        }
        return out
    }

    /// A diagnostic at the key (not the value) of the mapping entry path ends with: where a
    /// missing part of a named section is best pointed at.
    func diagnostic(_ message: String, atKeyOf path: [any CodingKey]) -> ConfigurationDiagnostic {
        guard let last = path.last, let parent = node(at: Array(path.dropLast()))?.mapping,
              let key = parent.first(where: { $0.key.string == last.stringValue })?.key, let mark = key.mark else {
            return diagnostic(message, at: path)
        }
        return ConfigurationDiagnostic(file: file, line: mark.line, column: mark.column, message: message)
    }
}
