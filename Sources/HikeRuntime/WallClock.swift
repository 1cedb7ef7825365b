import BPFKit
import Foundation

/// eBPF programs read only CLOCK_BOOTTIME; wall-clock timestamps (STAMP's NTP time, EIP's Unix
/// time) need the offset between the two, which only user space knows. hike writes it into every
/// clock map of the loaded objects (EXPORT_HIKE_CLOCK_MAP) when an object loads and on
/// `hike clock sync` — run that from a timer (`--every`) where the wall clock may be stepped.
public enum WallClock {
    /// Seconds from 1900-01-01 (NTP era 0) to 1970-01-01.
    public static let ntpUnixSeconds: UInt64 = 2_208_988_800

    static func nanoseconds(_ clock: clockid_t) -> UInt64 {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// ns to add to CLOCK_BOOTTIME for the epoch's wall-clock ns. The boot time is read on both
    /// sides of the wall clock and averaged, so the offset is off by half a read at most.
    public static func offset(for epoch: ClockMap.Epoch) -> UInt64 {
        let boot1 = nanoseconds(CLOCK_BOOTTIME)
        let real = nanoseconds(CLOCK_REALTIME)
        let boot2 = nanoseconds(CLOCK_BOOTTIME)
        let unix = real &- (boot1 / 2 &+ boot2 / 2)
        return epoch == .ntp ? unix &+ ntpUnixSeconds &* 1_000_000_000 : unix
    }
}

extension HikeInstance {
    /// A clock map of a loaded object, and the offset just written into it.
    public struct ClockSync: Codable, Sendable, Hashable {
        public let pin: String
        public let epoch: ClockMap.Epoch
        public let offsetNanoseconds: UInt64
    }

    /// Writes the current boot-time → wall-clock offset into every clock map of the loaded objects.
    @discardableResult
    public func syncClocks() throws -> [ClockSync] {
        try syncClocks(objects: registry().objects)
    }

    func syncClocks(objects: Set<String>) throws -> [ClockSync] {
        var synced: [ClockSync] = []
        var seen = Set<String>()
        for entry in catalog.entries where objects.contains(entry.object) {
            for clock in entry.clockMaps {
                let pin = "\(pinRoot)/maps/\(entry.object)/\(clock.map)"
                guard seen.insert(pin).inserted else { continue }
                let offset = WallClock.offset(for: clock.epoch)
                try BPFMap.openPinned(pin).update(UInt32(0), offset)
                synced.append(ClockSync(pin: pin, epoch: clock.epoch, offsetNanoseconds: offset))
            }
        }
        return synced
    }
}
