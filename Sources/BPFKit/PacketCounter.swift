/// `struct hike_counter` of bpf/include/hike/counter.h: packets and bytes, one per CPU in
/// per-CPU maps; add them up with `BPFMap.lookupSum`.
public struct PacketCounter: BitwiseCopyable, Sendable, Hashable, Codable, AdditiveArithmetic, CustomStringConvertible {
    public var packets: UInt64
    public var bytes: UInt64

    public init(packets: UInt64 = 0, bytes: UInt64 = 0) {
        self.packets = packets
        self.bytes = bytes
    }

    public static let zero = PacketCounter()
    public static func + (a: PacketCounter, b: PacketCounter) -> PacketCounter {
        PacketCounter(packets: a.packets &+ b.packets, bytes: a.bytes &+ b.bytes)
    }
    public static func - (a: PacketCounter, b: PacketCounter) -> PacketCounter {
        PacketCounter(packets: a.packets &- b.packets, bytes: a.bytes &- b.bytes)
    }

    public var description: String { "\(packets) packets, \(bytes) bytes" }
}
