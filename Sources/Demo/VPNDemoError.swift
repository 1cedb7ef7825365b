import Foundation
import HikeErrors

/// What can stop `hike demo vpn`, each saying what to do about it.
public enum VPNDemoError: Error, CustomStringConvertible, Sendable, Equatable {
    /// An option out of range or options that do not fit together.
    case invalidOption(String)
    /// The testbed file, or a node the demo needs, is not what the demo expects.
    case testbed(String)
    /// h1 could not reach h2 across the VPN.
    case noConnectivity(String)
    /// The traffic, the collector or the STAMP session failed while running.
    case measurement(String)
    /// The report or the plot could not be written.
    case output(String)
    /// Stopped on request (Ctrl-C); the testbed was brought down.
    case interrupted

    public var description: String {
        switch self {
        case .invalidOption(let message): "invalid option: \(message)"
        case .testbed(let message): "testbed: \(message)"
        case .noConnectivity(let message): "h1 cannot reach h2 over the VPN: \(message)"
        case .measurement(let message): "measurement failed: \(message)"
        case .output(let message): "cannot write the output: \(message)"
        case .interrupted: "interrupted"
        }
    }
}

extension VPNDemoError: HikeError {
    public var code: String {
        switch self {
        case .invalidOption: "demo.invalid-option"
        case .testbed: "demo.testbed"
        case .noConnectivity: "demo.no-connectivity"
        case .measurement: "demo.measurement"
        case .output: "demo.output"
        case .interrupted: "demo.interrupted"
        }
    }
    public var message: String { description }
}
