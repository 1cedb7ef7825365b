import Controller
import Foundation
import NetKit
import Wing

/// `hike bench controller`: how long the intent controller takes to compute a path, on made-up
/// networks of growing size (GeneratedTopology), for each kind of request, against the plain
/// IGP shortest path computed on the same network in the same run.
public enum ControllerScaleBench {
    public struct Options: Sendable {
        public var sizes: [Int]
        /// Requests per size; nil: 200 up to 1,000 routers, 50 above, 20 from 10,000.
        public var requests: Int?
        public var seed: UInt64

        public init(sizes: [Int] = [100, 1000, 10000], requests: Int? = nil, seed: UInt64 = 1) {
            self.sizes = sizes
            self.requests = requests
            self.seed = seed
        }
    }

    public struct Row: Codable, Sendable {
        public var request: String
        /// µs per computation, median and 99th percentile.
        public var medianMicroseconds: Double
        public var p99Microseconds: Double
        /// Median against the IGP shortest path's median.
        public var ratioToIGP: Double
        /// Requests that got no path (a bound nobody keeps, a router out of the algorithm).
        public var noPath: Int
    }

    public struct Size: Codable, Sendable {
        public var routers: Int
        public var links: Int
        public var requests: Int
        /// Preparing the computation from the topology (what each metric change costs once).
        public var buildMilliseconds: Double
        public var rows: [Row]
    }

    public struct Report: Codable, Sendable {
        public var seed: UInt64
        public var sizes: [Size]
        /// Streams held by one controller (ControllerStreamBench), when measured.
        public var streams: [ControllerStreamBench.Row] = []

        public func table() -> String {
            var lines = ["hike bench controller: path computation per request on generated networks (seed \(seed)); µs median / p99, "
                         + "and the median against the IGP shortest path"]
            for size in sizes {
                lines.append("")
                lines.append("\(size.routers) routers, \(size.links) links, \(size.requests) requests; preparing the topology "
                             + String(format: "%.1f ms", size.buildMilliseconds))
                lines.append("  request".padding(toLength: 48, withPad: " ", startingAt: 0) + "median µs     p99 µs   × IGP   no path")
                for row in size.rows {
                    lines.append("  " + row.request.padding(toLength: 46, withPad: " ", startingAt: 0)
                                 + String(format: "%9.1f  %9.1f  %6.2f  %7d", row.medianMicroseconds, row.p99Microseconds, row.ratioToIGP, row.noPath))
                }
            }
            if !streams.isEmpty {
                lines.append("")
                lines.append("streams held by one controller (100 per connection, loopback, client and server in one process):")
                lines.append("  streams  connections  all answered s  all pushed s  KiB per stream")
                for row in streams {
                    lines.append(String(format: "  %7d  %11d  %14.3f  %12.3f  %14.1f", row.streams, row.connections, row.answerSeconds,
                                        row.pushSeconds, row.residentKiBPerStream))
                }
            }
            return lines.joined(separator: "\n")
        }
    }

    /// The requests measured, by name.
    static let requests: [(String, PathIntent)] = [
        ("igp shortest path (reference)", PathIntent(metrics: [])),
        ("low-latency", PathIntent(metrics: [.lowLatency])),
        ("low-packet-loss", PathIntent(metrics: [.lowPacketLoss])),
        ("high-bandwidth", PathIntent(metrics: [.highBandwidth])),
        ("low-latency + low-packet-loss + low-jitter", PathIntent(metrics: [.lowLatency, .lowPacketLoss, .lowJitter])),
        ("low-latency, low-packet-loss max 0.1 %", PathIntent(metrics: [.lowLatency, .lowPacketLoss], maxLoss: 0.001)),
        ("flex-algo 128 + low-latency", PathIntent(metrics: [.lowLatency], algorithm: 128)),
        ("sfc fw → ids (3 × 3 placements)", PathIntent(metrics: [], functions: ["fw", "ids"])),
    ]

    public static func run(_ options: Options, progress: (String) -> Void) -> Report {
        var sizes: [Size] = []
        for routers in options.sizes {
            progress("hike bench controller: \(routers) routers…")
            let topology = GeneratedTopology.make(routers: routers, seed: options.seed)
            let clock = ContinuousClock()
            var computation: PathComputation?
            let build = clock.measure { computation = PathComputation(topology: topology) }
            let count = options.requests ?? (routers >= 10_000 ? 20 : routers > 1000 ? 50 : 200)
            var random = GeneratedTopology.Random(seed: options.seed &+ UInt64(routers))
            // Flex-algo 128 has the even routers: pairs are even, so every request can be answered but for bounds.
            let pairs = (0..<count).map { _ in (2 * Int.random(in: 0..<routers / 2, using: &random), 2 * Int.random(in: 0..<routers / 2, using: &random)) }
            var rows: [Row] = []
            for (name, intent) in requests {
                var times: [Double] = []
                var noPath = 0
                for (a, b) in pairs {
                    var result: Result<ComputedPath, NoPath>?
                    let elapsed = clock.measure { result = computation!.path(from: "r\(a)", to: "r\(b)", intent: intent) }
                    times.append(Double(elapsed.components.attoseconds) / 1e12 + Double(elapsed.components.seconds) * 1e6)
                    if case .failure = result { noPath += 1 }
                }
                times.sort()
                let median = times[times.count / 2]
                let p99 = times[min(times.count - 1, Int(Double(times.count) * 0.99))]
                rows.append(Row(request: name, medianMicroseconds: median, p99Microseconds: p99,
                                ratioToIGP: rows.first.map { median / $0.medianMicroseconds } ?? 1, noPath: noPath))
            }
            let buildComponents = build.components
            sizes.append(Size(routers: routers, links: topology.links.count, requests: count,
                              buildMilliseconds: Double(buildComponents.seconds) * 1e3 + Double(buildComponents.attoseconds) / 1e15, rows: rows))
        }
        return Report(seed: options.seed, sizes: sizes)
    }
}
