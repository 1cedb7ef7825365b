import Foundation
import Monitoring

/// Everything `hike demo vpn` measured, as it prints it and as --json writes it.
public struct VPNDemoReport: Codable, Sendable {
    /// One measurement period: the collector's figures for the flow, and the STAMP session that
    /// ran during it.
    public struct Period: Codable, Sendable, Hashable {
        public let period: Int
        public let colour: Int
        public let sent: UInt64
        public let received: UInt64
        public let lost: Int64
        public let lossPercent: Double
        public let stamp: STAMPResult?
    }

    public let testbed: String
    public let flow: UInt32
    public let periodSeconds: Double
    public let rate: Int
    /// K and p: K packets dropped by pm_loss in period p (K = 0: none).
    public let drop: Int
    public let dropPeriod: Int?
    public let ping: PingResult
    public let periods: [Period]
    /// Every STAMP test packet of the run together.
    public let stamp: STAMPResult
    /// The data flow's datagrams sent by h1 and delivered to h2, and what pm_loss dropped.
    public let dataSent: Int
    public let dataDelivered: Int
    public let injectedDrops: UInt64
    /// The SVG figure of loss and delay per period.
    public let plot: String?
    /// Left up for exploration (--keep).
    public let kept: Bool

    public var totalLost: Int64 { periods.reduce(0) { $0 + $1.lost } }
    public var totalSent: UInt64 { periods.reduce(0) { $0 + $1.sent } }

    /// The report as the terminal shows it.
    public func text() -> String {
        var lines: [String] = []
        lines.append("VPN over SRv6 h1 (cafe::1) — r1 — r2 — h2 (cafe::2), testbed \(testbed)")
        lines.append("")
        let rtt = ping.rttAverage.map { String(format: ", rtt min/avg/max %.3f/%.3f/%.3f ms", ping.rttMin ?? 0, $0, ping.rttMax ?? 0) } ?? ""
        lines.append("ping h1 → \(ping.destination): \(ping.transmitted) transmitted, \(ping.received) received\(rtt)")
        lines.append("")
        let dropText = drop > 0 ? "pm_loss at r2 armed to drop \(drop) packets in period \(dropPeriod ?? 0)" : "no injected drops"
        lines.append("loss by alternate marking, flow \(flow) (AltMark at r1, counted at r2), T = \(Self.number(periodSeconds)) s, "
                     + "\(rate) packets/s, \(dropText):")
        lines.append("")
        let header = ["period", "colour", "sent", "received", "lost", "loss %", "STAMP rx/tx", "RTT median µs", "RTT p99 µs"]
        var rows: [[String]] = []
        for p in periods {
            let stampCells: [String]
            if let stamp = p.stamp {
                stampCells = ["\(stamp.received)/\(stamp.sent)",
                              stamp.roundTrip.map { Self.micro($0.median) } ?? "-", stamp.roundTrip.map { Self.micro($0.p99) } ?? "-"]
            } else {
                stampCells = ["-", "-", "-"]
            }
            rows.append([String(p.period), String(p.colour), String(p.sent), String(p.received), String(p.lost),
                         String(format: "%.2f", p.lossPercent)] + stampCells)
        }
        lines += Self.table(header: header, rows: rows)
        lines.append("")
        lines.append("total: \(totalSent) sent, \(totalLost) lost; pm_loss dropped \(injectedDrops); "
                     + "h2 received \(dataDelivered) of the \(dataSent) data datagrams h1 sent")
        if drop > 0, let p = dropPeriod {
            let found = periods.first { $0.period == p }?.lost ?? 0
            let elsewhere = periods.filter { $0.period != p }.reduce(Int64(0)) { $0 + $1.lost }
            lines.append(found == Int64(drop) && elsewhere == 0
                ? "→ exactly the \(drop) dropped packets found, in period \(p), and no loss in the other periods."
                : "→ expected \(drop) lost in period \(p) and 0 elsewhere; measured \(found) in period \(p) and \(elsewhere) elsewhere.")
        } else {
            lines.append(totalLost == 0 ? "→ no loss in any period." : "→ \(totalLost) packets lost without injected drops.")
        }
        lines.append("")
        lines.append("STAMP (RFC 8762/8972, SSID \(stamp.ssid)) h1 → h2's XDP reflector over the SRv6 path: "
                     + "\(stamp.sent) sent, \(stamp.received) answered, \(stamp.lost) lost")
        let delayRows: [[String]] = [("round trip", stamp.roundTrip), ("one-way h1 → h2", stamp.forward), ("one-way h2 → h1", stamp.backward)]
            .map { name, stats in
                guard let stats else { return [name, "-", "-", "-", "-"] }
                return [name, Self.micro(stats.min), Self.micro(stats.median), Self.micro(stats.p99), Self.micro(stats.max)]
            }
        if stamp.lost > 0 && drop > 0 {
            lines.append("(STAMP test packets travel in the monitored flow: pm_loss's drops may hit them too)")
        }
        lines += Self.table(header: ["delay (µs)", "min", "median", "p99", "max"], rows: delayRows)
        lines.append("(one-way delays are exact here: all namespaces share one clock)")
        if let plot {
            lines.append("")
            lines.append("plot of loss and delay per period: \(plot)")
        }
        return lines.joined(separator: "\n")
    }

    static func micro(_ seconds: Double) -> String { String(format: "%.1f", seconds * 1e6) }

    static func number(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%g", value)
    }

    /// Columns right-aligned but the first, separated by two spaces.
    static func table(header: [String], rows: [[String]]) -> [String] {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: max(0, widths[column] - cell.count))
                return column == 0 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
        return ["  " + line(header)] + rows.map { "  " + line($0) }
    }
}
