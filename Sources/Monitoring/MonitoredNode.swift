import BPFKit

/// The alternate-marking colour (the L bit of RFC 9343).
public enum Colour: UInt32, Sendable, Codable, CaseIterable {
    case zero = 0
    case one = 1

    public var other: Colour { self == .zero ? .one : .zero }
}

/// Where a node counts: where packets are marked (ingress) or where marks are read (egress).
public enum CountingPoint: String, Sendable, Codable, CaseIterable {
    case ingress
    case egress
}

/// How a flow is marked.
public enum MarkingMode: String, Sendable, Codable, CaseIterable {
    case dscp
    case altmark

    public var rawMode: UInt32 { self == .dscp ? PMABI.modeDSCP : PMABI.modeAltMark }

    public init(parsing text: String) throws {
        guard let mode = MarkingMode(rawValue: text.lowercased()) else { throw MonitoringError.invalidMode(text) }
        self = mode
    }

    init?(raw: UInt32) {
        switch raw {
        case PMABI.modeDSCP: self = .dscp
        case PMABI.modeAltMark: self = .altmark
        default: return nil
        }
    }
}

/// A flow's counters of one colour at one counting point, summed over CPUs.
public struct FlowCounter: Sendable, Codable, Hashable {
    public let flow: UInt32
    public let colour: Colour
    public let point: CountingPoint
    public let packets: UInt64
    public let bytes: UInt64
}

/// A node that monitors flows: reads its per-flow, per-colour counters and flips its active
/// colour. The collector sees nodes only through this, so a remote API (gRPC) can implement it
/// for nodes on other machines.
public protocol MonitoredNode: Sendable {
    /// What reports call the node.
    var name: String { get }
    /// Every configured flow's counters of both colours at a counting point.
    func counters(at point: CountingPoint) throws -> [FlowCounter]
    /// The colour the node marks now.
    func activeColour() throws -> Colour
    /// Makes colour the one the node marks from the next packet.
    func setActiveColour(_ colour: Colour) throws
}

extension MonitoredNode {
    /// Flips the active colour and returns the new one.
    @discardableResult
    public func flip() throws -> Colour {
        let next = try activeColour().other
        try setActiveColour(next)
        return next
    }
}
