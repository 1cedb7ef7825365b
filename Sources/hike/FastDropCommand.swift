import ArgumentParser
import Foundation
import HikeControl

/// `hike fastdrop`: the instance's drop list (the fastdrop package's loaders and program).
struct FastDropCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fastdrop",
        abstract: "Show, replace or re-index the prefix list the fastdrop loaders drop by.",
        discussion: """
            One list per instance, shared by the loaders fastdrop (by source) and fastdrop_dst (by \
            destination) and the program fastdrop_match. The trie fastdrop_prefixes is the list; an \
            IPv4 index (2 bits per /24) answers most IPv4 lookups with one array read. See \
            docs/packages.md "fastdrop".
            """,
        subcommands: [Show.self, Apply.self, Sync.self]
    )

    static func print(_ status: FastDropStatus, json: Bool) throws {
        if json {
            Terminal.line(try Terminal.json(status))
            return
        }
        Terminal.line("\(status.prefixes.count) prefixes; dropped \(status.dropped.packets) packets (\(status.dropped.bytes) bytes), "
            + "passed \(status.passed.packets), not IP \(status.notIP.packets)")
        for prefix in status.prefixes { Terminal.line(prefix.drop ? "  \(prefix.prefix)" : "  !\(prefix.prefix)  (exception)") }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the prefixes and the counters.")
        @OptionGroup var instance: InstanceOptions
        @OptionGroup var output: JSONOption

        func run() throws {
            try FastDropCommand.print(DataPlane(instance: try instance.open()).fastDropStatus(), json: output.json)
        }
    }

    struct Apply: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a list file the instance's list.",
            discussion: """
                FILE has one prefix per line (203.0.113.0/24, 2001:db8:bad::/48; a bare address is a \
                /32 or /128), !PREFIX for an exception inside a listed prefix, # for comments. Every \
                line is checked before anything changes; a packet sees the old list or the new one \
                throughout (the IPv4 index is cleared while the trie changes).
                """
        )
        @Argument(help: "The list file.") var file: String
        @OptionGroup var instance: InstanceOptions
        @OptionGroup var output: JSONOption

        func run() throws {
            let list = try DataPlane.parseFastDropList(try SourceText.read(file))
            try FastDropCommand.print(DataPlane(instance: try instance.open()).applyFastDrop(list), json: output.json)
        }
    }

    struct Sync: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild the IPv4 index from the trie.",
            discussion: "Run after changing fastdrop_prefixes with hike map update: the index keeps its old answer for a /24 until then."
        )
        @OptionGroup var instance: InstanceOptions
        @OptionGroup var output: JSONOption

        func run() throws {
            try FastDropCommand.print(DataPlane(instance: try instance.open()).syncFastDrop(), json: output.json)
        }
    }
}
