import Foundation

/// The knobs of `hike demo vpn`, checked together before anything is made.
public struct VPNDemoOptions: Sendable {
    /// The testbed topology (examples/vpn/demo.yaml).
    public var testbedFile: String
    /// The testbed's name: namespaces and HIKe instances are `<prefix>-<name>-<node>`.
    public var name: String
    public var prefix: String
    /// Measurement periods and their length T.
    public var periods: Int
    public var period: Duration
    /// K packets dropped by pm_loss at r2 in period `dropPeriod` (1-based); K = 0: no drops.
    public var drop: Int
    public var dropPeriod: Int
    /// The data flow's rate from h1 to h2, packets per second.
    public var rate: Int
    /// One STAMP test packet every `stampInterval` during the first 60 % of each period.
    public var stampInterval: Duration
    /// How long a STAMP session waits for late replies; nil: T/5. Tests on a loaded machine give
    /// more, so that a reply delayed by scheduling is not counted as lost.
    public var stampTimeout: Duration?
    /// Where the plot (and with --json nothing else) is written.
    public var outputDirectory: String
    /// Leave the testbed up afterwards.
    public var keep: Bool
    /// Serve the Prometheus endpoint here while the demo runs (HOST:PORT), if set.
    public var metricsListen: String?
    /// Where SRv6 runs in the topology, for the first lines (VPNDemoSRv6.summary); nil: unsaid
    /// (a topology of the user's).
    public var srv6Summary: String?

    /// The loss-monitoring flow (FlowMonID) and the VPN's addresses, as demo.yaml sets them.
    public static let flow: UInt32 = 7
    public static let h2Address = "cafe::2"
    public static let dataPort: UInt16 = 5001
    public static let stampSSID: UInt16 = 0x0de0

    public init(testbedFile: String = "examples/vpn/demo.yaml", name: String = "vpn", prefix: String = "hike-tb",
                periods: Int = 6, period: Duration = .seconds(1), drop: Int = 10, dropPeriod: Int = 3, rate: Int = 200,
                stampInterval: Duration = .milliseconds(10), outputDirectory: String = "demo-out", keep: Bool = false,
                metricsListen: String? = nil, stampTimeout: Duration? = nil) {
        self.stampTimeout = stampTimeout
        self.testbedFile = testbedFile
        self.name = name
        self.prefix = prefix
        self.periods = periods
        self.period = period
        self.drop = drop
        self.dropPeriod = dropPeriod
        self.rate = rate
        self.stampInterval = stampInterval
        self.outputDirectory = outputDirectory
        self.keep = keep
        self.metricsListen = metricsListen
    }

    /// T in seconds.
    public var periodSeconds: Double {
        let (seconds, attoseconds) = period.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// STAMP test packets per period: they fit in 60 % of T, the replies' wait in the next 20 %.
    public var stampPacketsPerPeriod: Int {
        let (s, a) = stampInterval.components
        let interval = Double(s) + Double(a) / 1e18
        return max(1, Int(periodSeconds * 0.6 / interval))
    }

    /// Every problem of the options at once, so one run fixes them all.
    public func validate() throws {
        var problems: [String] = []
        if !(1...60).contains(periods) { problems.append("--periods must be 1–60, not \(periods)") }
        if !(0.2...10).contains(periodSeconds) { problems.append("--period must be 0.2–10 s, not \(periodSeconds) s") }
        if !(10...20_000).contains(rate) { problems.append("--rate must be 10–20000 packets/s, not \(rate)") }
        if drop < 0 { problems.append("--drop must be 0 or more, not \(drop)") }
        if drop > 0 && (1...60).contains(periods) && !(1...periods).contains(dropPeriod) {
            problems.append("--drop-period must be one of the periods, 1–\(periods), not \(dropPeriod)")
        }
        // pm_loss drops the first K packets of the period: the period must carry well more than K.
        let perPeriod = Double(rate) * periodSeconds
        if drop > 0 && Double(drop) > perPeriod / 2 {
            problems.append("--drop \(drop) is more than half the \(Int(perPeriod)) packets a period carries at --rate \(rate): "
                            + "lower --drop or raise --rate or --period")
        }
        if stampInterval < .milliseconds(1) || stampInterval > period / 2 {
            problems.append("the STAMP interval must be 1 ms – T/2")
        }
        if let stampTimeout, stampTimeout < .zero || stampTimeout > .seconds(10) {
            problems.append("the STAMP timeout must be 0–10 s")
        }
        // Whole run under two minutes: the periods plus about 15 s of set-up and tear-down.
        if Double(periods) * periodSeconds > 100 {
            problems.append("--periods × --period must stay under 100 s (the demo runs in under two minutes)")
        }
        if !problems.isEmpty { throw VPNDemoError.invalidOption(problems.joined(separator: "; ")) }
    }
}
