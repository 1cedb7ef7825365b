import ArgumentParser
import Doctor
import Foundation

/// `hike doctor`: checks, by doing it, everything hike needs from this machine.
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check that this machine can run hike (kernel features, privileges, tools).",
        discussion: """
            Each check does the real thing — loads programs, attaches XDP to a veth pair, adds SRv6 \
            routes — in namespaces of its own (hike-doctor-<pid>-…) that it deletes afterwards. \
            Exits with status 1 when a required check fails; with --check NAME, when that check \
            does not pass (what scripts ask: `hike doctor --check test-run-live-frames`).
            """
    )

    @Flag(help: "Print a JSON array of the checks (name, required, verdict, detail, hint).")
    var json = false

    @Option(help: ArgumentHelp("Run this check alone; exit status 1 unless it passes.", valueName: "name"))
    var check: String?

    func validate() throws {
        if let check, !Doctor.checkNames.contains(check) {
            throw ValidationError("no check '\(check)'; the checks: \(Doctor.checkNames.joined(separator: ", "))")
        }
    }

    func run() throws {
        InterruptCleanup.install(prefixes: [Doctor.namespacePrefix, PingCountDemo.defaultPrefix])
        let width = Doctor.checkNames.map(\.count).max() ?? 0
        if let check, let result = Doctor.run(check) {
            Terminal.line(json ? try Terminal.json([result]) : Self.render(result, nameWidth: width))
            if result.verdict != .ok { throw ExitCode(1) }
            return
        }
        let checks = Doctor.runAll { check in
            if !json { Terminal.line(Self.render(check, nameWidth: width)) }
        }
        if json {
            Terminal.line(try Terminal.json(checks))
        } else {
            Terminal.line(Self.summary(checks))
        }
        if !checks.requiredFailures.isEmpty { throw ExitCode(1) }
    }

    static func render(_ check: DoctorCheck, nameWidth: Int) -> String {
        let mark = switch check.verdict {
        case .ok: "ok"
        case .failed: "FAIL"
        case .warning: "warn"
        }
        let indent = String(repeating: " ", count: 6)
        let lines = check.detail.split(separator: "\n", omittingEmptySubsequences: false)
        var text = pad(mark, 6) + pad(check.name, nameWidth + 2) + (check.required || check.verdict == .ok ? "" : "(optional) ")
            + (lines.first.map(String.init) ?? "")
        // Further lines of the detail (libbpf's messages, a route table) go under the first.
        for line in lines.dropFirst() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            text += "\n" + indent + String(repeating: " ", count: nameWidth + 2) + line
        }
        if check.verdict != .ok, let hint = check.hint {
            text += "\n" + indent + "hint: " + hint
        }
        return text
    }

    static func summary(_ checks: [DoctorCheck]) -> String {
        let ok = checks.filter { $0.verdict == .ok }.count
        let warnings = checks.filter { $0.verdict == .warning }.count
        let failed = checks.filter { $0.verdict == .failed }.count
        var counts = ["\(ok) ok"]
        if warnings > 0 { counts.append("\(warnings) warning\(warnings == 1 ? "" : "s")") }
        if failed > 0 { counts.append("\(failed) failed") }
        let verdict = checks.requiredFailures.isEmpty
            ? "hike can run on this machine."
            : "hike cannot run here until the failed checks pass."
        var text = "\n\(checks.count) checks: \(counts.joined(separator: ", ")). \(verdict)"
        // Without privileges nearly every kernel check fails; point at the cause, not the symptoms.
        if checks.first(where: { $0.name == "privileges" })?.verdict == .failed && failed > 1 {
            text += "\nMost failures follow from missing privileges: run hike as root first."
        }
        return text
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}
