import NetKit

/// What a client asks its intent controller (HawkEye's API) and how an answer maps back onto
/// applications. Pure: the stream itself is IntentSession.
public struct IntentPlan: Sendable, Equatable {
    /// One PathRequest: an application with intents, toward one of its service's addresses.
    public struct Request: Sendable, Hashable {
        public var service: UInt32
        public var port: UInt16
        public var destination: IPv6Address
        public var intents: [WingIntent]
    }

    /// An intent as a controller may echo it: the kind and its values, order not mattering.
    struct IntentKey: Hashable {
        var kind: WingIntentKind
        var values: Set<IntentValue>
    }

    /// HawkEye's Value: min/max numbers, SFC function names, the flex-algo number.
    enum IntentValue: Hashable {
        case minimum(Int)
        case maximum(Int)
        case function(String)
        case flexAlgorithm(Int)
    }

    public let source: IPv6Address
    public private(set) var requests: [Request] = []

    /// Requests for every application with intents × every address its service has now
    /// (configured, or learned from DNS answers).
    public init(configuration: WingConfiguration, source: IPv6Address, addresses: [UInt32: [IPv6Address]]) {
        self.source = source
        for service in configuration.services {
            let known = Set(service.addresses).union(addresses[service.id] ?? [])
            for destination in known.sorted() {
                for application in service.applications where !application.intents.isEmpty {
                    requests.append(Request(service: service.id, port: application.port, destination: destination,
                                            intents: application.intents))
                }
            }
        }
    }

    /// HawkWing's encoding of an intent's values (what HawkEye expects): one SFC value per
    /// function, the flex-algo number, min and max when set.
    static func values(of intent: WingIntent) -> [IntentValue] {
        switch intent.kind {
        case .sfc: return intent.functions.map { .function($0) }
        case .flexAlgo: return intent.flexAlgorithm.map { [.flexAlgorithm($0)] } ?? []
        default: return (intent.minValue.map { [.minimum($0)] } ?? []) + (intent.maxValue.map { [.maximum($0)] } ?? [])
        }
    }

    static func key(_ intents: [WingIntent]) -> Set<IntentKey> {
        Set(intents.map { IntentKey(kind: $0.kind, values: Set(values(of: $0))) })
    }

    /// The requests an answer for (destination, intents) serves: same destination, same set of
    /// intents with the same values (HawkWing compared the lists' types in order only).
    func requests(answering destination: IPv6Address, intents: Set<IntentKey>) -> [Request] {
        requests.filter { $0.destination == destination && Self.key($0.intents) == intents }
    }
}
