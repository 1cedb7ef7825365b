import Foundation

/// A route of a node: either the arguments of `ip route add` as one string (anything iproute2
/// takes), or structured fields for the common cases, including kernel SRv6:
///
///     - "fc00::1/128 encap seg6local action End.DT6 table 254 dev veth-r1r2"
///     - {to: fc00::2/128, via: fd00:12::2, dev: veth-r1r2}
///     - {to: cafe::2/128, dev: veth-r1r2, seg6: {mode: encap, segs: [fc00::2]}}
///     - {to: fc00::1/128, dev: veth-r1r2, seg6local: {action: End.DT6, table: 254}}
public struct RouteSpec: Codable, Sendable, Equatable {
    /// `ip route add` arguments, when the route was given as a string.
    public var raw: String?
    public var to: String?
    public var via: String?
    public var dev: String?
    public var table: Int?
    public var metric: Int?
    public var src: String?
    public var seg6: Seg6Encap?
    public var seg6local: Seg6Local?

    /// `encap seg6 mode MODE segs A,B,…` (the kernel's SRv6 headend).
    public struct Seg6Encap: Codable, Sendable, Equatable {
        /// encap, encap.red, inline, l2encap, l2encap.red.
        public var mode: String
        public var segs: [String]

        public static let modes = ["encap", "encap.red", "inline", "l2encap", "l2encap.red"]

        public init(mode: String = "encap", segs: [String]) {
            self.mode = mode
            self.segs = segs
        }

        enum CodingKeys: String, CodingKey, CaseIterable { case mode, segs }

        public init(from decoder: Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self, in: "seg6")
            let container = try decoder.container(keyedBy: CodingKeys.self)
            mode = try container.decodeIfPresent(String.self, forKey: .mode) ?? "encap"
            segs = try container.decode([String].self, forKey: .segs)
        }
    }

    /// `encap seg6local action ACTION …` (the kernel's SRv6 endpoint behaviours).
    public struct Seg6Local: Codable, Sendable, Equatable {
        public var action: String
        public var table: Int?
        public var vrftable: Int?
        public var nh6: String?
        public var nh4: String?
        public var oif: String?
        /// psp, usp, usd, next-csid.
        public var flavors: [String]?
        public var lblen: Int?
        public var nflen: Int?

        /// Actions and the parameter each needs (iproute2's names).
        public static let actions: [String: [String]] = [
            "End": [], "End.X": ["nh6"], "End.T": ["table"], "End.DX2": ["oif"], "End.DX6": ["nh6"],
            "End.DX4": ["nh4"], "End.DT6": ["table|vrftable"], "End.DT4": ["vrftable"], "End.DT46": ["vrftable"],
            "End.B6": [], "End.B6.Encaps": [], "End.BM": [], "End.S": [], "End.AS": [], "End.AM": [], "End.BPF": [],
        ]
        public static let flavorNames = ["psp", "usp", "usd", "next-csid"]

        public init(action: String, table: Int? = nil, vrftable: Int? = nil, nh6: String? = nil, nh4: String? = nil,
                    oif: String? = nil, flavors: [String]? = nil, lblen: Int? = nil, nflen: Int? = nil) {
            self.action = action
            self.table = table
            self.vrftable = vrftable
            self.nh6 = nh6
            self.nh4 = nh4
            self.oif = oif
            self.flavors = flavors
            self.lblen = lblen
            self.nflen = nflen
        }

        enum CodingKeys: String, CodingKey, CaseIterable { case action, table, vrftable, nh6, nh4, oif, flavors, lblen, nflen }

        public init(from decoder: Decoder) throws {
            try decoder.rejectUnknownKeys(CodingKeys.self, in: "seg6local")
            let container = try decoder.container(keyedBy: CodingKeys.self)
            action = try container.decode(String.self, forKey: .action)
            table = try container.decodeIfPresent(Int.self, forKey: .table)
            vrftable = try container.decodeIfPresent(Int.self, forKey: .vrftable)
            nh6 = try container.decodeIfPresent(String.self, forKey: .nh6)
            nh4 = try container.decodeIfPresent(String.self, forKey: .nh4)
            oif = try container.decodeIfPresent(String.self, forKey: .oif)
            flavors = try container.decodeIfPresent([String].self, forKey: .flavors)
            lblen = try container.decodeIfPresent(Int.self, forKey: .lblen)
            nflen = try container.decodeIfPresent(Int.self, forKey: .nflen)
        }
    }

    public init(raw: String) { self.raw = raw }

    public init(to: String, via: String? = nil, dev: String? = nil, table: Int? = nil, metric: Int? = nil,
                src: String? = nil, seg6: Seg6Encap? = nil, seg6local: Seg6Local? = nil) {
        self.to = to
        self.via = via
        self.dev = dev
        self.table = table
        self.metric = metric
        self.src = src
        self.seg6 = seg6
        self.seg6local = seg6local
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case raw, to, via, dev, table, metric, src, seg6, seg6local }

    public init(from decoder: Decoder) throws {
        if let single = try? decoder.singleValueContainer(), let text = try? single.decode(String.self) {
            raw = text
            return
        }
        try decoder.rejectUnknownKeys(CodingKeys.self, in: "a route")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        raw = try container.decodeIfPresent(String.self, forKey: .raw)
        to = try container.decodeIfPresent(String.self, forKey: .to)
        via = try container.decodeIfPresent(String.self, forKey: .via)
        dev = try container.decodeIfPresent(String.self, forKey: .dev)
        table = try container.decodeIfPresent(Int.self, forKey: .table)
        metric = try container.decodeIfPresent(Int.self, forKey: .metric)
        src = try container.decodeIfPresent(String.self, forKey: .src)
        seg6 = try container.decodeIfPresent(Seg6Encap.self, forKey: .seg6)
        seg6local = try container.decodeIfPresent(Seg6Local.self, forKey: .seg6local)
    }

    /// The arguments after `ip [-6] route add`.
    public var arguments: [String] {
        if let raw { return raw.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) }
        var words = [to ?? "default"]
        if let seg6 {
            words += ["encap", "seg6", "mode", seg6.mode, "segs", seg6.segs.joined(separator: ",")]
        }
        if let local = seg6local {
            words += ["encap", "seg6local", "action", local.action]
            if let table = local.table { words += ["table", String(table)] }
            if let vrftable = local.vrftable { words += ["vrftable", String(vrftable)] }
            if let nh6 = local.nh6 { words += ["nh6", nh6] }
            if let nh4 = local.nh4 { words += ["nh4", nh4] }
            if let oif = local.oif { words += ["oif", oif] }
            if let flavors = local.flavors, !flavors.isEmpty {
                words += ["flavors", flavors.joined(separator: ",")]
                if let lblen = local.lblen { words += ["lblen", String(lblen)] }
                if let nflen = local.nflen { words += ["nflen", String(nflen)] }
            }
        }
        if let via { words += ["via", via] }
        if let dev { words += ["dev", dev] }
        if let src { words += ["src", src] }
        if let table { words += ["table", String(table)] }
        if let metric { words += ["metric", String(metric)] }
        return words
    }

    /// `-6` when the route is IPv6 (its destination or gateway is), so `default` routes work too.
    public var familyFlag: [String] {
        let words = arguments
        let destination = words.first ?? ""
        let gateway = words.firstIndex(of: "via").flatMap { words.indices.contains($0 + 1) ? words[$0 + 1] : nil } ?? ""
        if destination.contains(":") || gateway.contains(":") || seg6local != nil { return ["-6"] }
        return []
    }

    /// How the route reads, for messages and status.
    public var text: String { arguments.joined(separator: " ") }

    /// The device the route names (`dev X`), checked to be the node's.
    var device: String? {
        let words = arguments
        guard let index = words.firstIndex(of: "dev"), words.indices.contains(index + 1) else { return nil }
        return words[index + 1]
    }
}
