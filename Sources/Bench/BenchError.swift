import HikeErrors

/// What stopped a benchmark, said so that the person knows what to fix.
public enum BenchError: Error, CustomStringConvertible, Sendable {
    case missingObject(String)
    case wrongVerdict(what: String, got: UInt32, expected: UInt32)
    case chainFailed(what: String, detail: String)
    /// The stability pre-check lost packets in every attempt.
    case unstable(rate: Double, attempts: Int, losses: String)
    /// This host cannot run the DUT (a kernel feature it lacks): reported, not a failure of it.
    case unavailable(String)
    /// The controller stream measurement could not run to its end.
    case controllerStreams(String)

    public var description: String {
        switch self {
        case .missingObject(let name): "no embedded object '\(name)': hike was built without bpf/bench"
        case .wrongVerdict(let what, let got, let expected):
            "\(what) returned \(got), not \(expected): the chain did not run to its end, so its time means nothing"
        case .chainFailed(let what, let detail): "\(what): \(detail)"
        case .unavailable(let why): why
        case .controllerStreams(let why): "controller streams: \(why)"
        case .unstable(let rate, let attempts, let losses):
            "stability pre-check: \(attempts) trial(s) at \(TrafficBench.mpps(rate)) Mpps all lost more than the PDR "
                + "allows (\(losses)), so no PDR can be trusted; the machine is probably busy (run again, or raise "
                + "--precheck-attempts)"
        }
    }
}

extension BenchError: HikeError {
    public var code: String {
        switch self {
        case .missingObject: "bench.missing-object"
        case .wrongVerdict: "bench.wrong-verdict"
        case .chainFailed: "bench.chain-failed"
        case .unstable: "bench.unstable"
        case .unavailable: "bench.unavailable"
        case .controllerStreams: "bench.controller-streams"
        }
    }
    public var message: String { description }
}
