import NetKit

/// Topologies made up for scale measurements: a ring where each router also reaches the next
/// two, plus one chord to a random router (a small world: about six links per router, paths of
/// a few dozen hops at 10,000 routers), with random metrics. Seeded: the same seed, the same network.
public enum GeneratedTopology {
    /// SplitMix64: small, fast and the same everywhere.
    public struct Random: RandomNumberGenerator, Sendable {
        var state: UInt64
        public init(seed: UInt64) { state = seed }
        public mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// n routers (n ≥ 4), each with a /64 of hosts and an algorithm-0 SID; half of them in
    /// flex-algo 128 (every other one, so that the algorithm's routers stay connected through the
    /// ring's second neighbours); fw and ids functions on `functions` routers each.
    public static func make(routers n: Int, functions: Int = 3, seed: UInt64) -> NetworkTopology {
        var random = Random(seed: seed)
        func address(_ words: [UInt16]) -> IPv6Address {
            IPv6Address(unchecked: (words + [UInt16](repeating: 0, count: 8 - words.count)).flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] })
        }
        let nodes = (0..<n).map { i -> TopologyNode in
            var sids = [0: address([0xfc00, UInt16(i >> 16), UInt16(i & 0xffff)])]
            if i % 2 == 0 { sids[128] = address([0xfc00, 0x80, UInt16(i >> 16), UInt16(i & 0xffff)]) }
            let prefix = try! IPv6Network(address: address([0xfd00, UInt16(i >> 16), UInt16(i & 0xffff)]), length: 64)
            return TopologyNode(name: "r\(i)", sids: sids, prefixes: [prefix])
        }
        var pairs = Set<[Int]>()
        var links: [TopologyLink] = []
        func link(_ a: Int, _ b: Int) {
            guard a != b, pairs.insert([min(a, b), max(a, b)]).inserted else { return }
            let bandwidth: UInt64 = [1_000_000, 10_000_000, 100_000_000][Int.random(in: 0..<3, using: &random)]
            let lossy = Int.random(in: 0..<10, using: &random) == 0
            func metrics() -> LinkMetrics {
                LinkMetrics(igpMetric: UInt32.random(in: 1...100, using: &random), bandwidthKbps: bandwidth,
                            delayMicroseconds: Double.random(in: 100...5000, using: &random), jitterMicroseconds: Double.random(in: 1...500, using: &random),
                            loss: lossy ? Double.random(in: 0...0.01, using: &random) : 0, utilization: Double.random(in: 0...0.8, using: &random))
            }
            links.append(TopologyLink(from: "r\(a)", to: "r\(b)", forward: metrics(), reverse: metrics()))
        }
        for i in 0..<n {
            link(i, (i + 1) % n)
            link(i, (i + 2) % n)
            link(i, Int.random(in: 0..<n, using: &random))
        }
        var services: [ServiceFunction] = []
        for type in ["fw", "ids"] {
            for k in 0..<functions {
                let router = Int.random(in: 0..<n, using: &random)
                services.append(ServiceFunction(name: "\(type)-\(k)", type: type, router: "r\(router)",
                                                sid: address([0xfc00, UInt16(router >> 16), UInt16(router & 0xffff), type == "fw" ? 0xf1 : 0x1d5, UInt16(k + 1)])))
            }
        }
        return NetworkTopology(nodes: nodes, links: links, services: services)
    }
}
