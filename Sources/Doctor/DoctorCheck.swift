/// The outcome of one check of `hike doctor`.
public struct DoctorCheck: Sendable, Hashable, Codable {
    public enum Verdict: String, Sendable, Hashable, Codable {
        case ok
        /// A required check failed: hike cannot do its job here.
        case failed
        /// An optional check failed: hike runs, with what the detail says missing.
        case warning
    }

    /// A short, stable identifier (`xdp-native-veth`) that scripts can match on.
    public let name: String
    /// Whether hike needs this to work at all.
    public let required: Bool
    public let verdict: Verdict
    /// What was done and seen; for failures, the error (may span lines).
    public let detail: String
    /// What to do about a failure; nil when the check passed.
    public let hint: String?

    public init(name: String, required: Bool, verdict: Verdict, detail: String, hint: String? = nil) {
        self.name = name
        self.required = required
        self.verdict = verdict
        self.detail = detail
        self.hint = hint
    }

    private enum CodingKeys: String, CodingKey { case name, required, verdict, detail, hint }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        required = try container.decode(Bool.self, forKey: .required)
        verdict = try container.decode(Verdict.self, forKey: .verdict)
        detail = try container.decode(String.self, forKey: .detail)
        hint = try container.decodeIfPresent(String.self, forKey: .hint)
    }

    // Writes `"hint": null` rather than leaving the key out, so every object has the same keys.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(required, forKey: .required)
        try container.encode(verdict, forKey: .verdict)
        try container.encode(detail, forKey: .detail)
        try container.encode(hint, forKey: .hint)
    }
}

extension [DoctorCheck] {
    /// The required checks that did not pass.
    public var requiredFailures: [DoctorCheck] { filter { $0.required && $0.verdict != .ok } }
}
