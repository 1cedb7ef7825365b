import ArgumentParser
import BPFKit
import Foundation
import HikeRuntime

/// `hike reset`: removes everything an instance holds in the kernel and on disk.
struct ResetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reset",
        abstract: "Remove all state of an instance: detach its loaders, remove its pins and its registry.",
        discussion: """
            Packets on the interfaces its loaders were attached to go to the kernel again. Programs \
            and maps live on only while something else holds them.
            """
    )

    @OptionGroup var instance: InstanceOptions
    @OptionGroup var output: JSONOption

    struct Removed: Encodable {
        let instance: String
        let detached: [AttachmentRow]
        let chains: [String]
        let programs: [String]
        let pins: Int
        let directories: [String]
    }

    func run() throws {
        let hike = try instance.open()
        let registry = (try? hike.registry()) ?? Registry()
        let attachments = registry.attachments.map(AttachmentRow.init)
        let pins = Self.countPins(under: hike.pinRoot)
        let directories = [hike.pinRoot, hike.stateDirectory].filter { FileManager.default.fileExists(atPath: $0) }
        try hike.reset()
        let removed = Removed(instance: hike.name, detached: attachments, chains: registry.chains.keys.sorted(),
                              programs: registry.programs.values.sorted { $0.id < $1.id }.map(\.name),
                              pins: pins, directories: directories)
        if output.json {
            Terminal.line(try Terminal.json(removed))
            return
        }
        if directories.isEmpty {
            Terminal.line("instance '\(hike.name)' has no state: nothing to remove")
            return
        }
        for row in attachments {
            Terminal.line("detached \(row.loader) from \(row.place)")
        }
        if !removed.chains.isEmpty {
            Terminal.line("removed \(Format.plural(removed.chains.count, "chain")): \(removed.chains.joined(separator: ", "))")
        }
        if !removed.programs.isEmpty {
            Terminal.line("unloaded \(Format.plural(removed.programs.count, "program")): \(removed.programs.joined(separator: ", "))")
        }
        for directory in directories {
            Terminal.line(directory == hike.pinRoot ? "removed \(directory) (\(Format.plural(pins, "pin")))"
                                                    : "removed \(directory) (the registry)")
        }
    }

    /// Pinned objects (files) under root, recursively.
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
