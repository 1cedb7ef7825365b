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

    public init(ingress: any MonitoredNode, egress: any MonitoredNode, period: Duration, flows: Set<UInt32>? = nil) throws {
        guard period >= .milliseconds(10) else {
            throw MonitoringError.invalidArgument("the period must be at least 10 ms (the read comes at T/2)")
        }
        self.ingress = ingress
        self.egress = egress
        self.period = period
        self.flows = flows
    }

    /// Takes both ends' counters as the baseline and flips: the first period starts now.
    public func start() throws {
        lastSent = try Self.snapshot(ingress.counters(at: .ingress))
        lastReceived = try Self.snapshot(egress.counters(at: .egress))
        periodNumber = 0
        closedColour = nil
        try ingress.flip()
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
        for flow in ids.sorted() {
            let key = PMKey(flow: flow, colour: colour.rawValue)
            let s = sent[key] ?? (0, 0), r = received[key] ?? (0, 0)
            let s0 = lastSent[key] ?? (0, 0), r0 = lastReceived[key] ?? (0, 0)
            losses.append(FlowLoss(flow: flow, sent: s.0 &- s0.0, received: r.0 &- r0.0,
                                   sentBytes: s.1 &- s0.1, receivedBytes: r.1 &- r0.1))
            lastSent[key] = s
            lastReceived[key] = r
        }
        closedColour = nil
        return PeriodReport(period: periodNumber, colour: colour, ended: closedAt, read: Date(), flows: losses)
    }

    /// Runs periods with the wall clock: start, then every T a flip and, T/2 after it, a read.
    /// report gets each period's report as it is read; returning false stops early.
    public func run(periods: Int, onFlip: (Int, Colour) throws -> Void = { _, _ in },
                    report: (PeriodReport) throws -> Bool = { _ in true }) throws -> [PeriodReport] {
        guard periods >= 1 else { throw MonitoringError.invalidArgument("the number of periods must be at least 1") }
        let clock = ContinuousClock()
        try start()
        let begin = clock.now
        var reports: [PeriodReport] = []
        for k in 1...periods {
            Self.sleep(until: begin + period * k, clock: clock)
            let ended = try flip()
            try onFlip(k, ended.other)
            Self.sleep(until: begin + period * k + period / 2, clock: clock)
            let r = try read()
            reports.append(r)
            if try !report(r) { break }
        }
        return reports
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
