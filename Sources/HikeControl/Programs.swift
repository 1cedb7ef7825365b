import Foundation
import HikeErrors
import HikeRuntime

/// A program loaded by `loadPrograms`, or loaded with it from the same object.
public struct LoadedProgram: Sendable, Codable, Equatable {
    public var record: ProgramRecord
    /// Loaded by this call (false: it was loaded before).
    public var new: Bool
}

/// What `reset` removed.
public struct ResetReport: Sendable {
    public var attachments: [AttachmentRecord]
    public var chains: [String]
    public var programs: [String]
    /// Pins (files under the instance's bpffs directory) and directories removed.
    public var pins: Int
    public var directories: [String]
}

extension DataPlane {
    /// Loads programs by name, each with every program of its object. Every name is checked
    /// first, so a typo in the last one loads nothing. Returns the programs named and those
    /// loaded with them, by ID.
    public func loadPrograms(_ names: [String]) throws(ControlError) -> [LoadedProgram] {
        try ControlError.wrapping {
            for name in names {
                let entry = try instance.catalog.entry(name)
                if entry.kind == .loader {
                    throw ControlError.invalid("'\(name)' is a loader, not a program: chains do not call it, it starts them; "
                        + "attach it with: hike loader attach \(name) DEV --chain CHAIN", code: "runtime.is-a-loader")
                }
            }
            let before = try instance.registry().programs
            for name in names { try instance.loadProgram(name) }
            return try instance.registry().programs.values.filter { names.contains($0.name) || before[$0.name] == nil }
                .sorted { $0.id < $1.id }
                .map { LoadedProgram(record: $0, new: before[$0.name] == nil) }
        }
    }

    /// Removes the whole instance: detaches its loaders, unpins its programs and maps, deletes
    /// its registry. The kernel drops what no one else holds.
    public func reset() throws(ControlError) -> ResetReport {
        try ControlError.wrapping {
            let registry = (try? instance.registry()) ?? Registry()
            let pins = Self.countPins(under: instance.pinRoot)
            let directories = [instance.pinRoot, instance.stateDirectory].filter { FileManager.default.fileExists(atPath: $0) }
            try instance.reset()
            return ResetReport(attachments: registry.attachments, chains: registry.chains.keys.sorted(),
                               programs: registry.programs.values.sorted { $0.id < $1.id }.map(\.name), pins: pins, directories: directories)
        }
    }

    static func countPins(under root: String) -> Int {
        guard let enumerator = FileManager.default.enumerator(atPath: root) else { return 0 }
        var count = 0
        while let relative = enumerator.nextObject() as? String {
            var status = stat()
            if lstat("\(root)/\(relative)", &status) == 0, (status.st_mode & S_IFMT) == S_IFREG { count += 1 }
        }
        return count
    }
}
