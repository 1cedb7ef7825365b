import Foundation

/// What iputils ping printed, in figures: its summary lines.
public struct PingResult: Codable, Sendable, Hashable {
    public let destination: String
    public let transmitted: Int
    public let received: Int
    /// Round-trip times in ms (nil when nothing came back).
    public let rttMin: Double?
    public let rttAverage: Double?
    public let rttMax: Double?

    public init(destination: String, transmitted: Int, received: Int, rttMin: Double?, rttAverage: Double?, rttMax: Double?) {
        self.destination = destination
        self.transmitted = transmitted
        self.received = received
        self.rttMin = rttMin
        self.rttAverage = rttAverage
        self.rttMax = rttMax
    }

    /// Reads "N packets transmitted, M received" and "rtt min/avg/max/mdev = a/b/c/d ms".
    public static func parse(_ output: String, destination: String) -> PingResult? {
        var transmitted: Int?, received: Int?
        var rtt: [Double] = []
        for line in output.split(separator: "\n") {
            if line.contains("packets transmitted") {
                let words = line.split(whereSeparator: { $0 == " " || $0 == "," })
                for (index, word) in words.enumerated() where index > 0 {
                    if word == "packets", transmitted == nil { transmitted = Int(words[index - 1]) }
                    if word == "received" { received = Int(words[index - 1]) }
                }
            } else if line.hasPrefix("rtt") || line.hasPrefix("round-trip"), let equals = line.firstIndex(of: "=") {
                let figures = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
                rtt = (figures.split(separator: " ").first ?? "").split(separator: "/").compactMap { Double($0) }
            }
        }
        guard let transmitted, let received else { return nil }
        return PingResult(destination: destination, transmitted: transmitted, received: received,
                          rttMin: rtt.count >= 3 ? rtt[0] : nil, rttAverage: rtt.count >= 3 ? rtt[1] : nil,
                          rttMax: rtt.count >= 3 ? rtt[2] : nil)
    }
}
