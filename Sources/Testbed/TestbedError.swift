import Foundation
import HikeErrors

/// What went wrong with a testbed: its file, its state or the kernel while bringing it up or down.
public enum TestbedError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A problem in the topology file, at `file:line:col` when the place is known.
    case invalid(file: String, line: Int?, column: Int?, message: String)
    /// Several problems of one file, reported together.
    case invalidMany([TestbedError])
    /// A testbed of that name is already up (or was left behind by a crash).
    case alreadyUp(name: String, stateFile: String)
    /// No testbed of that name is up.
    case notUp(name: String, known: [String])
    /// A node that the testbed does not have.
    case unknownNode(String, testbed: String, known: [String])
    /// Something that `up` would make already exists and is not the testbed's.
    case collision(String)
    /// A step of `up` failed; everything it made was removed again (or `leftovers` says what was not).
    case upFailed(step: String, reason: String, leftovers: [String])
    /// `up` was asked to stop (Ctrl-C) before `step`; what it made was removed (or `leftovers` says what was not).
    case interrupted(step: String, leftovers: [String])
    /// `down` could not remove everything; the state file stays so `down` can be run again.
    case downIncomplete(name: String, leftovers: [String])
    /// The state file cannot be read or written.
    case state(String)

    public var description: String {
        switch self {
        case .invalid(let file, let line, let column, let message):
            let place = [file, line.map(String.init), column.map(String.init)].compactMap { $0 }.joined(separator: ":")
            return "\(place): error: \(message)"
        case .invalidMany(let errors):
            return errors.map(\.description).joined(separator: "\n")
        case .alreadyUp(let name, let stateFile):
            return "testbed '\(name)' is already up (state in \(stateFile)): run `hike testbed down \(name)` first, or pick another --name"
        case .notUp(let name, let known):
            return "no testbed '\(name)' is up" + (known.isEmpty ? " (none is)" : "; up: " + known.joined(separator: ", "))
        case .unknownNode(let node, let testbed, let known):
            return "testbed '\(testbed)' has no node '\(node)'; its nodes: " + known.joined(separator: ", ")
        case .collision(let what):
            return what
        case .upFailed(let step, let reason, let leftovers):
            return "up failed at \(step): \(reason); "
                + (leftovers.isEmpty ? "everything it made was removed"
                                     : "could not remove: " + leftovers.joined(separator: "; ") + " (run `hike testbed down` again)")
        case .interrupted(let step, let leftovers):
            return "up interrupted at \(step); "
                + (leftovers.isEmpty ? "everything it made was removed"
                                     : "could not remove: " + leftovers.joined(separator: "; ") + " (run `hike testbed down` again)")
        case .downIncomplete(let name, let leftovers):
            return "down of '\(name)' could not remove: " + leftovers.joined(separator: "; ")
                + " (the state file stays: run `hike testbed down \(name)` again)"
        case .state(let message):
            return message
        }
    }

    /// The individual problems (one for a single error).
    public var problems: [TestbedError] {
        if case .invalidMany(let errors) = self { return errors }
        return [self]
    }
}

extension TestbedError: HikeError {
    public var code: String {
        switch self {
        case .invalid, .invalidMany: "testbed.invalid"
        case .alreadyUp: "testbed.already-up"
        case .notUp: "testbed.not-up"
        case .unknownNode: "testbed.unknown-node"
        case .collision: "testbed.collision"
        case .upFailed: "testbed.up-failed"
        case .interrupted: "testbed.interrupted"
        case .downIncomplete: "testbed.down-incomplete"
        case .state: "testbed.state"
        }
    }
    public var message: String { description }
    public var position: SourcePosition? {
        switch self {
        case .invalid(let file, let line?, let column, _): SourcePosition(file: file, line: line, column: column)
        case .invalidMany(let errors): errors.lazy.compactMap(\.position).first
        default: nil
        }
    }
}
