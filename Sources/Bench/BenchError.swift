/// What stopped a benchmark, said so that the person knows what to fix.
public enum BenchError: Error, CustomStringConvertible, Sendable {
    case affinity(String)
    case missingObject(String)
    case wrongVerdict(what: String, got: UInt32, expected: UInt32)
    case chainFailed(what: String, detail: String)

    public var description: String {
        switch self {
        case .affinity(let why): "--cpu: \(why)"
        case .missingObject(let name): "no embedded object '\(name)': hike was built without bpf/bench"
        case .wrongVerdict(let what, let got, let expected):
            "\(what) returned \(got), not \(expected): the chain did not run to its end, so its time means nothing"
        case .chainFailed(let what, let detail): "\(what): \(detail)"
        }
    }
}
