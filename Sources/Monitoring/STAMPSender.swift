import BPFKit
import Foundation
import NetKit

/// Delay figures over a set of samples, in seconds: nearest-rank quantiles (RFC-free, simple to
/// check by hand).
public struct DelayStatistics: Sendable, Codable, Hashable {
    public let count: Int
    public let min: Double
    public let median: Double
    public let p99: Double
    public let max: Double

    /// nil without samples.
    public init?(_ samples: [Double]) {
        guard !samples.isEmpty else { return nil }
        let sorted = samples.sorted()
        func rank(_ q: Double) -> Double {
            // Nearest rank: the smallest sample with at least q of the samples at or below it.
            let index = Swift.max(0, Int((q * Double(sorted.count)).rounded(.up)) - 1)
            return sorted[Swift.min(index, sorted.count - 1)]
        }
        count = sorted.count
        min = sorted[0]
        median = rank(0.5)
        p99 = rank(0.99)
        max = sorted[sorted.count - 1]
    }
}

/// One STAMP test session's outcome.
public struct STAMPResult: Sendable, Codable, Hashable {
    public let ssid: UInt16
    public let destination: String
    public let sent: Int
    public let received: Int
    /// Test packets whose reply never came (within the timeout).
    public var lost: Int { sent - received }
    public var lossPercent: Double { sent == 0 ? 0 : Double(lost) * 100 / Double(sent) }
    /// Round trip without the reflector's time: (T4 − T1) − (T3 − T2).
    public let roundTrip: DelayStatistics?
    /// Sender → reflector (T2 − T1) and back (T4 − T3): meaningful with synchronised clocks
    /// (namespaces of one machine share one).
    public let forward: DelayStatistics?
    public let backward: DelayStatistics?

    enum CodingKeys: String, CodingKey { case ssid, destination, sent, received, lost, lossPercent, roundTrip, forward, backward }

    public init(ssid: UInt16, destination: String, sent: Int, received: Int, roundTrip: DelayStatistics?,
                forward: DelayStatistics?, backward: DelayStatistics?) {
        self.ssid = ssid
        self.destination = destination
        self.sent = sent
        self.received = received
        self.roundTrip = roundTrip
        self.forward = forward
        self.backward = backward
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(ssid: try c.decode(UInt16.self, forKey: .ssid), destination: try c.decode(String.self, forKey: .destination),
                  sent: try c.decode(Int.self, forKey: .sent), received: try c.decode(Int.self, forKey: .received),
                  roundTrip: try c.decodeIfPresent(DelayStatistics.self, forKey: .roundTrip),
                  forward: try c.decodeIfPresent(DelayStatistics.self, forKey: .forward),
                  backward: try c.decodeIfPresent(DelayStatistics.self, forKey: .backward))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(ssid, forKey: .ssid)
        try c.encode(destination, forKey: .destination)
        try c.encode(sent, forKey: .sent)
        try c.encode(received, forKey: .received)
        try c.encode(lost, forKey: .lost)
        try c.encode(lossPercent, forKey: .lossPercent)
        try c.encode(roundTrip, forKey: .roundTrip)
        try c.encode(forward, forKey: .forward)
        try c.encode(backward, forKey: .backward)
    }
}

/// The four timestamps of one reflected test packet (NTP 32.32).
public struct STAMPTimestamps: Sendable, Hashable {
    public let sequence: UInt32
    public let t1, t2, t3, t4: UInt64

    public var roundTrip: Double { NTPTime.seconds(from: t1, to: t4) - NTPTime.seconds(from: t2, to: t3) }
    public var forward: Double { NTPTime.seconds(from: t1, to: t2) }
    public var backward: Double { NTPTime.seconds(from: t3, to: t4) }
}

/// NTP timestamps (RFC 5905: 32-bit seconds since 1900, 32-bit fraction), as STAMP carries them.
public enum NTPTime {
    public static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let seconds = UInt64(ts.tv_sec) + 2_208_988_800
        let fraction = (UInt64(ts.tv_nsec) << 32) / 1_000_000_000
        return seconds << 32 | fraction
    }

    /// b − a in seconds (negative when b is earlier).
    public static func seconds(from a: UInt64, to b: UInt64) -> Double {
        Double(Int64(bitPattern: b &- a)) / 4_294_967_296
    }
}

/// A STAMP session-sender (RFC 8762 unauthenticated mode, RFC 8972 SSID): sends test packets to
/// a reflector from a UDP socket opened inside a network namespace and matches the replies.
public final class STAMPSessionSender: @unchecked Sendable {  // used by one thread at a time
    public static let reflectorPort: UInt16 = 862
    public static let testPacketLength = 44
    /// Error Estimate (RFC 4656 §4.1.2 as RFC 8762 uses it): S = 0 (hike does not know that the
    /// clock is synchronised to UTC), Z = 0 (NTP format), Scale 12, Multiplier 1: 1 × 2^(12−32) s
    /// ≈ 0.95 µs. The timestamps are CLOCK_REALTIME read in user space next to the send and
    /// receive calls: the clock reads to the nanosecond, but the claim is bounded by the
    /// microsecond-scale gap between the read and the packet leaving or arriving.
    public static let errorEstimate: UInt16 = 0x0C01
    /// The most test packets one session sends (a session is a bounded measurement).
    public static let maxCount = 1_000_000
    /// The longest interval between test packets and the longest wait for the last replies.
    public static let maxInterval: Duration = .seconds(60)
    public static let maxTimeout: Duration = .seconds(3600)

    public let ssid: UInt16
    public let destination: String
    private let fd: Int32
    private var address = sockaddr_in6()
    /// Sequence numbers run on across sessions: a late reply to one session cannot match a test
    /// packet of the next (the echoed sender timestamp is checked too).
    private var nextSequence: UInt32 = 0

    /// Opens the session's socket, in namespace when given (else in hike's own).
    public init(destination: String, port: UInt16 = reflectorPort, ssid: UInt16, namespace: NetworkNamespace? = nil) throws {
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_port = port.bigEndian
        guard inet_pton(AF_INET6, destination, &address.sin6_addr) == 1 else {
            throw MonitoringError.stamp("'\(destination)' is not an IPv6 address")
        }
        guard port != 0 else { throw MonitoringError.stamp("the reflector port must not be 0") }
        let open = { () throws -> Int32 in
            let fd = socket(AF_INET6, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd < 0 { throw MonitoringError.stamp("cannot open a UDP socket: \(String(cString: strerror(errno)))") }
            return fd
        }
        self.fd = try namespace.map { try $0.run(open) } ?? open()
        self.address = address
        self.ssid = ssid
        self.destination = destination
    }

    deinit { close(fd) }

    /// The session-sender's test packet: Seq, Timestamp, Error Estimate, SSID, 28 bytes MBZ.
    public static func testPacket(sequence: UInt32, timestamp: UInt64, ssid: UInt16) -> [UInt8] {
        var packet = [UInt8](repeating: 0, count: testPacketLength)
        for i in 0..<4 { packet[i] = UInt8(truncatingIfNeeded: sequence >> (24 - 8 * i)) }
        for i in 0..<8 { packet[4 + i] = UInt8(truncatingIfNeeded: timestamp >> (56 - 8 * i)) }
        packet[12] = UInt8(errorEstimate >> 8)
        packet[13] = UInt8(errorEstimate & 0xff)
        packet[14] = UInt8(ssid >> 8)
        packet[15] = UInt8(ssid & 0xff)
        return packet
    }

    /// Sends count test packets, one every interval, and waits up to timeout after the last
    /// for the replies. Replies of other sessions or unknown sequence numbers are ignored.
    public func run(count: Int, interval: Duration = .milliseconds(10), timeout: Duration = .seconds(1)) throws -> (STAMPResult, [STAMPTimestamps]) {
        guard count >= 1, count <= Self.maxCount else {
            throw MonitoringError.stamp("send 1–\(Self.maxCount) test packets per session, not \(count)")
        }
        guard interval >= .zero, interval <= Self.maxInterval else {
            throw MonitoringError.stamp("the interval between test packets must be 0–60 s")
        }
        guard timeout >= .zero, timeout <= Self.maxTimeout else {
            throw MonitoringError.stamp("the time to wait for replies must be 0–3600 s")
        }
        var pending: [UInt32: UInt64] = [:]
        var samples: [STAMPTimestamps] = []
        let clock = ContinuousClock()
        let start = clock.now
        for index in 0..<count {
            let sequence = nextSequence
            nextSequence &+= 1
            let t1 = NTPTime.now()
            try send(Self.testPacket(sequence: sequence, timestamp: t1, ssid: ssid))
            pending[sequence] = t1
            try receive(until: start + interval * (index + 1), clock: clock, pending: &pending, samples: &samples)
        }
        let deadline = clock.now + timeout
        while !pending.isEmpty, clock.now < deadline {
            try receive(until: deadline, clock: clock, pending: &pending, samples: &samples, stopWhenEmpty: true)
        }
        let result = STAMPResult(ssid: ssid, destination: destination, sent: count, received: samples.count,
                                 roundTrip: DelayStatistics(samples.map(\.roundTrip)),
                                 forward: DelayStatistics(samples.map(\.forward)),
                                 backward: DelayStatistics(samples.map(\.backward)))
        return (result, samples.sorted { $0.sequence < $1.sequence })
    }

    private func send(_ bytes: [UInt8]) throws {
        let sent = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, bytes, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
            }
        }
        if sent < 0 { throw MonitoringError.stamp("cannot send to \(destination): \(String(cString: strerror(errno)))") }
    }

    /// Reads replies until the deadline (or until nothing is pending, when asked).
    private func receive(until deadline: ContinuousClock.Instant, clock: ContinuousClock, pending: inout [UInt32: UInt64],
                         samples: inout [STAMPTimestamps], stopWhenEmpty: Bool = false) throws {
        var buffer = [UInt8](repeating: 0, count: 2048)
        while true {
            if stopWhenEmpty && pending.isEmpty { return }
            let left = clock.now.duration(to: deadline)
            guard left > .zero else { return }
            let (seconds, attoseconds) = left.components
            let milliseconds = Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1)
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, milliseconds)
            if ready < 0 {
                if errno == EINTR { continue }
                throw MonitoringError.stamp("poll: \(String(cString: strerror(errno)))")
            }
            if ready == 0 { continue }
            let n = recv(fd, &buffer, buffer.count, 0)
            let t4 = NTPTime.now()
            if n < 0 {
                // An ICMPv6 error (unreachable reflector) surfaces here: that test packet is lost.
                if errno == EINTR || errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH { continue }
                throw MonitoringError.stamp("receive: \(String(cString: strerror(errno)))")
            }
            guard n >= Self.testPacketLength else { continue }
            let reply = Array(buffer[..<n])
            func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 << 8 | UInt32(reply[at + $1]) } }
            func u64(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 << 8 | UInt64(reply[at + $1]) } }
            let replySSID = UInt16(reply[14]) << 8 | UInt16(reply[15])
            let senderSequence = u32(24)
            // The reflector echoes the test packet's sequence number and timestamp (offsets 24
            // and 28): both must be those of a packet this session still waits for.
            guard replySSID == ssid, let t1 = pending[senderSequence], u64(28) == t1 else { continue }
            pending[senderSequence] = nil
            samples.append(STAMPTimestamps(sequence: senderSequence, t1: t1, t2: u64(16), t3: u64(4), t4: t4))
        }
    }
}
