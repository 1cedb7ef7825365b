import Monitoring

/// The loss of one direction of a link by alternate marking, from reads of the two ends taken
/// at any time (by a poller or by Prometheus): the sender's counters of its send flow, the
/// receiver's of the same flow as its receive flow, and the sender's active colour with since
/// when it is active.
///
/// A colour is idle at the sender from the flip that ended it until the flip that starts it
/// again; once it has been idle for `grace` (its last packets have arrived), its counters stand
/// still at both ends. A read of both ends in that window closes every period of that colour
/// since the last such read: lost = Δsent − Δreceived.
public struct LinkLossEstimator: Sendable {
    /// Seconds a colour must have been idle before its counters are taken as final.
    public let grace: Double

    /// The last read of each colour while it was idle: since when (the flip that made it idle).
    private var last: [Colour: Reading] = [:]

    struct Reading: Sendable {
        let idleSince: Double
        let sent: UInt64
        let received: UInt64
    }

    /// What one or more periods of a colour gave.
    public struct Periods: Sendable, Equatable {
        public let sent: UInt64
        public let received: UInt64
        public var lost: Int64 { Int64(bitPattern: sent &- received) }
        /// lost / sent, 0 when nothing was sent; never below 0 (duplicates are not a gain).
        public var loss: Double { sent == 0 ? 0 : max(0, Double(lost)) / Double(sent) }

        public init(sent: UInt64, received: UInt64) {
            self.sent = sent
            self.received = received
        }
    }

    public init(grace: Double) {
        self.grace = grace
    }

    /// One read of both ends. active and since: the sender's colour and since when it marks with
    /// it (nil: unknown, so nothing can be concluded); sentAt and receivedAt: when each end was
    /// read, on the same clock as since; sent and received: both colours' packets. The caller
    /// checks that the sender did not flip between the two reads (a later read of the sender
    /// with the same since). Returns what the periods closed since the last read of the idle
    /// colour gave, or nil when this read closes none.
    public mutating func add(active: Colour, since: Double?, sentAt: Double, receivedAt: Double,
                             sent: [UInt64], received: [UInt64]) -> Periods? {
        guard let since, sent.count == 2, received.count == 2,
              sentAt - since >= grace, receivedAt - since >= grace else { return nil }
        let idle = active.other
        let reading = Reading(idleSince: since, sent: sent[Int(idle.rawValue)], received: received[Int(idle.rawValue)])
        guard let previous = last[idle] else {
            last[idle] = reading
            return nil
        }
        guard previous.idleSince != since else { return nil }  // the same idle time, read again
        last[idle] = reading
        // A counter that went back was recreated (flow removed and added, maps reloaded): this
        // read is a new baseline.
        guard reading.sent >= previous.sent, reading.received >= previous.received else { return nil }
        return Periods(sent: reading.sent - previous.sent, received: reading.received - previous.received)
    }
}
