import Foundation

/// One flow's loss over one period: what the ingress marked with the period's colour and what
/// the egress counted with it.
public struct FlowLoss: Sendable, Codable, Hashable {
    public let flow: UInt32
    public let sent: UInt64
    public let received: UInt64
    public let sentBytes: UInt64
    public let receivedBytes: UInt64

    /// Packets lost; negative when more arrived than were sent (duplicates, or a packet of the
    /// colour that arrived after the read).
    public var lost: Int64 { Int64(bitPattern: sent &- received) }
    /// Lost packets as a percentage of those sent (0 when none was sent).
    public var lossPercent: Double { sent == 0 ? 0 : Double(lost) * 100 / Double(sent) }

    enum CodingKeys: String, CodingKey { case flow, sent, received, sentBytes, receivedBytes, lost, lossPercent }

    public init(flow: UInt32, sent: UInt64, received: UInt64, sentBytes: UInt64, receivedBytes: UInt64) {
        self.flow = flow
        self.sent = sent
        self.received = received
        self.sentBytes = sentBytes
        self.receivedBytes = receivedBytes
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(flow: try c.decode(UInt32.self, forKey: .flow), sent: try c.decode(UInt64.self, forKey: .sent),
                  received: try c.decode(UInt64.self, forKey: .received), sentBytes: try c.decode(UInt64.self, forKey: .sentBytes),
                  receivedBytes: try c.decode(UInt64.self, forKey: .receivedBytes))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(flow, forKey: .flow)
        try c.encode(sent, forKey: .sent)
        try c.encode(received, forKey: .received)
        try c.encode(sentBytes, forKey: .sentBytes)
        try c.encode(receivedBytes, forKey: .receivedBytes)
        try c.encode(lost, forKey: .lost)
        try c.encode(lossPercent, forKey: .lossPercent)
    }
}

/// The report of one period (a block of RFC 9341): its number (1 = the first full period after
/// the collector started), its colour, and each flow's loss.
public struct PeriodReport: Sendable, Codable, Hashable {
    public let period: Int
    public let colour: Colour
    /// When the period ended (the flip that closed it) and when its counters were read.
    public let ended: Date
    public let read: Date
    public let flows: [FlowLoss]
    /// Flows left out of this period because a counter went back (the flow was removed and
    /// added again, or the node's maps were recreated): their figures restart from the next
    /// period of this colour.
    public let countersReset: [UInt32]

    public init(period: Int, colour: Colour, ended: Date, read: Date, flows: [FlowLoss], countersReset: [UInt32] = []) {
        self.period = period
        self.colour = colour
        self.ended = ended
        self.read = read
        self.flows = flows
        self.countersReset = countersReset
    }
}

/// The alternate-marking collector (RFC 9341 §3.1): every period T it flips the ingress
/// node's colour, waits T/2 so that the packets of the period just closed reach the egress,
/// reads the now-inactive colour's counters at both ends and reports the difference since it
/// last read that colour.
///
/// Only the ingress flips: the egress counts each packet under the colour of its mark.
/// `run` keeps this timing with the wall clock; `start`, `flip` and `read` are its steps, for
/// callers that drive periods themselves (the tests synchronise them on counters).
public final class LossCollector: @unchecked Sendable {  // used from one thread at a time
    public let ingress: any MonitoredNode
    public let egress: any MonitoredNode
    public let period: Duration
    /// The flows to report; nil: every flow configured at both nodes.
    public let flows: Set<UInt32>?

    private var lastSent: [PMKey: (UInt64, UInt64)] = [:]
    private var lastReceived: [PMKey: (UInt64, UInt64)] = [:]
    private var periodNumber = 0
    private var closedColour: Colour?
    private var closedAt = Date()
    /// When start() flipped: the first period's start, for run().
    private var startedAt: ContinuousClock.Instant?

    public init(ingress: any MonitoredNode, egress: any MonitoredNode, period: Duration, flows: Set<UInt32>? = nil) throws {
        guard period >= .milliseconds(10) else {
            throw MonitoringError.invalidArgument("the period must be at least 10 ms (the read comes at T/2)")
        }
        self.ingress = ingress
        self.egress = egress
        self.period = period
        self.flows = flows
    }

    /// Takes the baselines and flips: the first period starts at the flip. Each colour's
    /// baseline is taken while that colour is idle at both ends: the colour about to be marked
    /// before the flip, the colour that was being marked T/2 after it (when its last packets
    /// have reached the egress). So start() returns T/2 after the first period began.
    public func start() throws {
        periodNumber = 0
        closedColour = nil
        lastSent = [:]
        lastReceived = [:]
        let clock = ContinuousClock()
        let marking = try ingress.activeColour()
        try takeBaseline(of: marking.other)
        try ingress.setActiveColour(marking.other)
        let flipped = clock.now
        startedAt = flipped
        Self.sleep(until: flipped + period / 2, clock: clock)
        try takeBaseline(of: marking)
    }

    private func takeBaseline(of colour: Colour) throws {
        let sent = try Self.snapshot(ingress.counters(at: .ingress))
        let received = try Self.snapshot(egress.counters(at: .egress))
        for (key, value) in sent where key.colour == colour.rawValue { lastSent[key] = value }
        for (key, value) in received where key.colour == colour.rawValue { lastReceived[key] = value }
    }

    /// Ends the current period: the ingress marks with the other colour from now on. Returns
    /// the colour of the period that ended.
    @discardableResult
    public func flip() throws -> Colour {
        let ended = try ingress.activeColour()
        try ingress.setActiveColour(ended.other)
        closedColour = ended
        closedAt = Date()
        periodNumber += 1
        return ended
    }

    /// Reads the colour of the period that the last flip ended, at both ends, and reports it.
    public func read() throws -> PeriodReport {
        guard let colour = closedColour else {
            throw MonitoringError.invalidArgument("no period has ended yet: flip before reading")
        }
        let sent = try Self.snapshot(ingress.counters(at: .ingress))
        let received = try Self.snapshot(egress.counters(at: .egress))
        let ids = Set(sent.keys.map(\.flow)).intersection(received.keys.map(\.flow)).filter { flows?.contains($0) ?? true }
        var losses: [FlowLoss] = []
        var reset: [UInt32] = []
        for flow in ids.sorted() {
            let key = PMKey(flow: flow, colour: colour.rawValue)
            let s = sent[key] ?? (0, 0), r = received[key] ?? (0, 0)
            let s0 = lastSent[key] ?? (0, 0), r0 = lastReceived[key] ?? (0, 0)
            lastSent[key] = s
            lastReceived[key] = r
            // A counter below its baseline was recreated: the difference means nothing.
            if s.0 < s0.0 || s.1 < s0.1 || r.0 < r0.0 || r.1 < r0.1 {
                reset.append(flow)
                continue
            }
            losses.append(FlowLoss(flow: flow, sent: s.0 - s0.0, received: r.0 - r0.0,
                                   sentBytes: s.1 - s0.1, receivedBytes: r.1 - r0.1))
        }
        closedColour = nil
        return PeriodReport(period: periodNumber, colour: colour, ended: closedAt, read: Date(), flows: losses, countersReset: reset)
    }

    /// Runs periods with the wall clock: start, then every T a flip and, T/2 after it, a read
    /// (never less than T/2 after the flip, even when the flip came late).
    /// report gets each period's report as it is read; returning false stops early.
    public func run(periods: Int, onFlip: (Int, Colour) throws -> Void = { _, _ in },
                    report: (PeriodReport) throws -> Bool = { _ in true }) throws -> [PeriodReport] {
        guard periods >= 1 else { throw MonitoringError.invalidArgument("the number of periods must be at least 1") }
        var reports: [PeriodReport] = []
        try runPeriods(limit: periods, onFlip: onFlip) { r in
            reports.append(r)
            return try report(r)
        }
        return reports
    }

    /// As run, for as long as report returns true, keeping no report (a server runs this for
    /// days).
    public func runUntilStopped(onFlip: (Int, Colour) throws -> Void = { _, _ in },
                                report: (PeriodReport) throws -> Bool) throws {
        try runPeriods(limit: nil, onFlip: onFlip, report: report)
    }

    private func runPeriods(limit: Int?, onFlip: (Int, Colour) throws -> Void, report: (PeriodReport) throws -> Bool) throws {
        let clock = ContinuousClock()
        try start()
        let begin = startedAt ?? clock.now
        var k = 0
        while limit.map({ k < $0 }) ?? true {
            k += 1
            Self.sleep(until: begin + period * k, clock: clock)
            let ended = try flip()
            let flipped = clock.now
            try onFlip(k, ended.other)
            // T/2 after the flip as it happened: a late flip must not shorten the grace period.
            Self.sleep(until: max(begin + period * k + period / 2, flipped + period / 2), clock: clock)
            if try !report(read()) { return }
        }
    }

    /// The collector's timing is the method (RFC 9341 reads a colour T/2 after it ends), so it
    /// waits on the clock here, to a deadline (no drift over many periods).
    static func sleep(until deadline: ContinuousClock.Instant, clock: ContinuousClock) {
        let left = clock.now.duration(to: deadline)
        guard left > .zero else { return }
        let (seconds, attoseconds) = left.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0, errno == EINTR { request = remaining }
    }

    static func snapshot(_ counters: [FlowCounter]) -> [PMKey: (UInt64, UInt64)] {
        var result: [PMKey: (UInt64, UInt64)] = [:]
        for c in counters { result[PMKey(flow: c.flow, colour: c.colour.rawValue)] = (c.packets, c.bytes) }
        return result
    }
}
