import Foundation

/// How much of one CPU other tasks took during a trial, from /proc/stat: the generator, the DUT
/// and the sink run in the kernel (the test-run syscall and the NET_RX softirq), so user and nice
/// time on the generator's CPU, and time the hypervisor stole from it, belong to someone else.
public struct CPUTimes: Sendable, Equatable {
    public var user: UInt64, nice: UInt64, system: UInt64, idle: UInt64, iowait: UInt64, irq: UInt64, softirq: UInt64,
               steal: UInt64

    public var total: UInt64 { user + nice + system + idle + iowait + irq + softirq + steal }

    /// The `cpuN` line of /proc/stat (clock ticks); nil when it is missing or malformed.
    public static func read(cpu: Int, stat: String? = nil) -> CPUTimes? {
        guard let text = stat ?? (try? String(contentsOfFile: "/proc/stat", encoding: .utf8)) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("cpu\(cpu) ") {
            let fields = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
            guard fields.count >= 8 else { return nil }
            return CPUTimes(user: fields[0], nice: fields[1], system: fields[2], idle: fields[3], iowait: fields[4],
                            irq: fields[5], softirq: fields[6], steal: fields[7])
        }
        return nil
    }

    /// The share of the interval between `before` and `after` that other tasks or the hypervisor
    /// took: user, nice, system and steal time, less what the generator thread itself used
    /// (`generatorTicks`, its user + system time over the interval), over the CPU's total; nil
    /// for an empty interval. Softirq time is not counted: the DUT and the sink run there.
    public static func interference(from before: CPUTimes, to after: CPUTimes, generatorTicks: UInt64 = 0) -> Double? {
        let total = after.total &- before.total
        guard total > 0 else { return nil }
        let busy = (after.user &- before.user) &+ (after.nice &- before.nice) &+ (after.system &- before.system)
        let others = (busy > generatorTicks ? busy - generatorTicks : 0) &+ (after.steal &- before.steal)
        return min(1, Double(others) / Double(total))
    }
}
