import ArgumentParser
import BPFKit
import Daemon
import Foundation
import HikeRPC
import HikeControl
import HikeRuntime

/// `hike reset`: removes everything an instance holds in the kernel and on disk.
struct ResetCommand: NodeCommand {
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

    func operation() throws -> NodeOperation {
        .reset(.with {
            $0.target = instance.target(json: output.json)
        })
    }

    static func perform(_ request: Hike_V1_ResetRequest) throws {
        let output = JSONFlag(request.target.json), instance = request.target
        let hike = try instance.open()
        let report = try DataPlane(instance: hike).reset()
        let directories = report.directories
        let removed = Removed(instance: hike.name, detached: report.attachments.map(AttachmentRow.init), chains: report.chains,
                              programs: report.programs, pins: report.pins, directories: directories)
        if output.json {
            Terminal.line(try Terminal.json(removed))
            return
        }
        if directories.isEmpty {
            Terminal.line("instance '\(hike.name)' has no state: nothing to remove")
            return
        }
        for row in removed.detached {
            Terminal.line("detached \(row.loader) from \(row.place)")
        }
        if !removed.chains.isEmpty {
            Terminal.line("removed \(Format.plural(removed.chains.count, "chain")): \(removed.chains.joined(separator: ", "))")
        }
        if !removed.programs.isEmpty {
            Terminal.line("unloaded \(Format.plural(removed.programs.count, "program")): \(removed.programs.joined(separator: ", "))")
        }
        for directory in directories {
            Terminal.line(directory == hike.pinRoot ? "removed \(directory) (\(Format.plural(removed.pins, "pin")))"
                                                    : "removed \(directory) (the registry)")
        }
    }
}
