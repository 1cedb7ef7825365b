import HikeRPC
import NetKit
import Wing

/// What one PathRequest asks for, checked: the metric intents in request order (their order
/// gives the weights), the bounds, the service functions and the flex-algo.
public struct PathIntent: Sendable, Hashable, Codable {
    /// Intents that weigh links (all but sfc and flex-algo), in request order.
    public var metrics: [WingIntentKind]
    /// low-latency / low-jitter: µs over the whole path.
    public var maxDelayMicroseconds: Double?
    public var maxJitterMicroseconds: Double?
    /// low-packet-loss: 0…1 over the whole path (the request says per cent).
    public var maxLoss: Double?
    /// high-bandwidth: kbit/s every link must have available.
    public var minBandwidthKbps: Double?
    /// sfc: service function types, in the order traffic goes through them.
    public var functions: [String]
    /// flex-algo: 128–255; 0 is the default algorithm.
    public var algorithm: Int

    public init(metrics: [WingIntentKind], maxDelayMicroseconds: Double? = nil, maxJitterMicroseconds: Double? = nil,
                maxLoss: Double? = nil, minBandwidthKbps: Double? = nil, functions: [String] = [], algorithm: Int = 0) {
        self.metrics = metrics
        self.maxDelayMicroseconds = maxDelayMicroseconds
        self.maxJitterMicroseconds = maxJitterMicroseconds
        self.maxLoss = maxLoss
        self.minBandwidthKbps = minBandwidthKbps
        self.functions = functions
        self.algorithm = algorithm
    }

    /// The intents of a request, with HawkEye's rules: MAX_VALUE on low-latency, low-jitter and
    /// low-packet-loss only, MIN_VALUE on high-bandwidth only, numbers ≥ 1, sfc with at least one
    /// function, flex-algo 128–255. Unlike HawkEye, sfc and flex-algo may stand anywhere in the
    /// list, and a bound counts with one intent as with several.
    public init(_ intents: [Api_Intent]) throws(ControllerError) {
        guard !intents.isEmpty else { throw .request("no intents: ask for at least one") }
        var metrics: [WingIntentKind] = []
        var functions: [String] = []
        var algorithm = 0
        var seen = Set<WingIntentKind>()
        var bounds: (delay: Double?, jitter: Double?, loss: Double?, bandwidth: Double?) = (nil, nil, nil, nil)
        for intent in intents {
            guard let kind = WingIntentKind.allCases.first(where: { $0.protoNumber == intent.type.rawValue }) else {
                throw .request("intent type \(intent.type.rawValue) is not one of HawkEye's")
            }
            guard seen.insert(kind).inserted else { throw .request("\(kind.rawValue) is asked for twice") }
            for value in intent.values {
                switch (value.type, kind) {
                case (.maxValue, .lowLatency), (.maxValue, .lowJitter), (.maxValue, .lowPacketLoss), (.minValue, .highBandwidth):
                    guard value.hasNumberValue, value.numberValue >= 1 else {
                        throw .request("\(kind.rawValue): a \(value.type == .maxValue ? "maximum" : "minimum") must be a number ≥ 1")
                    }
                    let number = Double(value.numberValue)
                    switch kind {
                    case .lowLatency: bounds.delay = number
                    case .lowJitter: bounds.jitter = number
                    case .lowPacketLoss: bounds.loss = number / 100
                    default: bounds.bandwidth = number
                    }
                case (.sfc, .sfc):
                    guard value.hasStringValue, !value.stringValue.isEmpty else { throw .request("sfc: a function needs a name") }
                    functions.append(value.stringValue)
                case (.flexAlgoNr, .flexAlgo):
                    guard value.hasNumberValue, (128...255).contains(value.numberValue) else {
                        throw .request("flex-algo: the algorithm number must be 128–255")
                    }
                    algorithm = Int(value.numberValue)
                case (.maxValue, _), (.minValue, _):
                    throw .request("\(kind.rawValue) takes no \(value.type == .maxValue ? "maximum" : "minimum")"
                                   + " (HawkEye's rules: a maximum for low-latency, low-jitter, low-packet-loss; a minimum for high-bandwidth)")
                default:
                    throw .request("\(kind.rawValue) takes no value of type \(value.type)")
                }
            }
            switch kind {
            case .sfc: if functions.isEmpty { throw .request("sfc: name the functions (VALUE_TYPE_SFC strings) in traversal order") }
            case .flexAlgo: if algorithm == 0 { throw .request("flex-algo: give the algorithm number (VALUE_TYPE_FLEX_ALGO_NR)") }
            default: metrics.append(kind)
            }
        }
        guard metrics.count <= 3 else {
            throw .request("\(metrics.count) metric intents: at most three are weighed together (0.7, 0.2, 0.1)")
        }
        self.init(metrics: metrics, maxDelayMicroseconds: bounds.delay, maxJitterMicroseconds: bounds.jitter,
                  maxLoss: bounds.loss, minBandwidthKbps: bounds.bandwidth, functions: functions, algorithm: algorithm)
    }

    /// HawkEye's weights for two and three metric intents, in request order.
    public static func weights(count: Int) -> [Double] {
        switch count {
        case 0, 1: [1]
        case 2: [0.7, 0.3]
        default: [0.7, 0.2, 0.1]
        }
    }

    /// `low-latency (max 25000 µs), low-packet-loss`.
    public var summary: String {
        var parts: [String] = functions.isEmpty ? [] : ["sfc " + functions.joined(separator: "→")]
        if algorithm != 0 { parts.append("flex-algo \(algorithm)") }
        for kind in metrics {
            var text = kind.rawValue
            switch kind {
            case .lowLatency: if let max = maxDelayMicroseconds { text += " (max \(Int(max)) µs)" }
            case .lowJitter: if let max = maxJitterMicroseconds { text += " (max \(Int(max)) µs)" }
            case .lowPacketLoss: if let max = maxLoss { text += " (max \(max * 100) %)" }
            case .highBandwidth: if let min = minBandwidthKbps { text += " (min \(Int(min)) kbit/s)" }
            default: break
            }
            parts.append(text)
        }
        return parts.joined(separator: ", ")
    }
}
