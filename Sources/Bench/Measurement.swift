import BPFKit

/// Times of one configuration over k runs, in nanoseconds per packet.
public struct BenchStat: Codable, Sendable, Hashable {
    /// Every run's time (the kernel's average over repeatCount runs), in run order.
    public let samples: [Double]
    /// Runs in a row per sample (BPF_PROG_TEST_RUN repeat).
    public let repeatCount: UInt32

    public var median: Double {
        let sorted = samples.sorted()
        guard !sorted.isEmpty else { return .nan }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    public var min: Double { samples.min() ?? .nan }
    public var max: Double { samples.max() ?? .nan }

    enum CodingKeys: String, CodingKey { case samples, repeatCount, median, min, max }

    public init(samples: [Double], repeatCount: UInt32) {
        self.samples = samples
        self.repeatCount = repeatCount
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        samples = try container.decode([Double].self, forKey: .samples)
        repeatCount = try container.decode(UInt32.self, forKey: .repeatCount)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(samples, forKey: .samples)
        try container.encode(repeatCount, forKey: .repeatCount)
        try container.encode(median, forKey: .median)
        try container.encode(min, forKey: .min)
        try container.encode(max, forKey: .max)
    }
}

/// One program under test: test-run on BenchFrame, which must give `expected` every time.
struct Subject {
    let label: String
    let program: BPFProgram
    var expected: UInt32
    /// Puts the kernel objects in the state this subject needs (e.g. a program array's slots).
    var prepare: () throws -> Void = {}
    /// The frame every run takes.
    var frame: [UInt8] = BenchFrame.bytes

    /// One BPF_PROG_TEST_RUN; the kernel's average time per run, in ns.
    func time(repeatCount: UInt32) throws -> Double {
        let result = try program.testRun(TestRunOptions(data: frame, repeatCount: repeatCount))
        guard result.returnValue == expected else {
            throw BenchError.wrongVerdict(what: label, got: result.returnValue, expected: expected)
        }
        let parts = result.duration.components
        return Double(parts.seconds) * 1e9 + Double(parts.attoseconds) / 1e9
    }
}

enum Calibration {
    /// Runs per sample so that one sample takes about `seconds`, from a short probe.
    static func repeatCount(for subject: Subject, seconds: Double) throws -> UInt32 {
        let probeRuns: UInt32 = 20_000
        let probe = try subject.time(repeatCount: probeRuns)
        let runs = seconds * 1e9 / Swift.max(probe, 1)
        return UInt32(Swift.min(Swift.max(runs, 10_000), 500_000_000))
    }
}
