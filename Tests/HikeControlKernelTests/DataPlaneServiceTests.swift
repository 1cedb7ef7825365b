import Foundation
import HikeControl
import HikeRuntime
import HikeTestSupport
import Testing

/// Changes asked for concurrently (as the daemon's requests come) through DataPlaneService.
@Suite struct DataPlaneServiceTests {
    /// Whether /proc/locks shows a process waiting for a flock on the file with this inode.
    static func someoneWaits(onInode inode: UInt64) throws -> Bool {
        try String(contentsOfFile: "/proc/locks", encoding: .utf8).split(separator: "\n")
            .contains { $0.contains("->") && $0.contains("FLOCK") && $0.contains(":\(inode) ") }
    }

    /// While another process holds the instance's registry lock, eight installs asked at once
    /// wait on the instance's queue: one of them in flock, the others behind it, none on a
    /// thread of the cooperative pool, which keeps running other work. Once the lock is free,
    /// all eight are installed.
    @Test func changesThatWaitForTheRegistryLockHoldNoPoolThread() async throws {
        let test = try KernelTest.instance()
        let service = DataPlaneService(DataPlane(instance: test.instance))
        _ = try service.plane.instance.registry()  // the state directory exists
        let lockPath = "\(test.instance.stateDirectory)/lock"
        try FileManager.default.createDirectory(atPath: test.instance.stateDirectory, withIntermediateDirectories: true)
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        try #require(fd >= 0)
        defer { close(fd) }
        try #require(flock(fd, LOCK_EX) == 0)  // another process's change, as far as hike can tell
        var held = true
        defer { if held { flock(fd, LOCK_UN) } }
        var status = stat()
        try #require(fstat(fd, &status) == 0)

        let names = (0..<8).map { "c\($0)" }
        let installs = Task {
            try await withThrowingTaskGroup(of: ChainInstallReport.self) { group in
                for name in names {
                    group.addTask {
                        try await service.perform { plane throws(ControlError) in
                            try plane.install(try DataPlane.assemble(SourceText(file: "\(name).hasm", text: "chain \(name)\n    call hike_pass\n")))
                        }
                    }
                }
                return try await group.reduce(into: [String]()) { $0 += $1.chains.map(\.name) }
            }
        }
        // The tasks need a pool thread to hand their changes to the queue: under a full test
        // run, other tests may hold the pool's threads for a while.
        try await KernelTest.waitUntil("an install waits for the registry lock", timeout: .seconds(300)) {
            try Self.someoneWaits(onInode: UInt64(status.st_ino))
        }
        // Pool threads are free: more tasks than CPUs run to the end meanwhile.
        let sums = await withTaskGroup(of: Int.self) { group in
            for n in 0..<(4 * ProcessInfo.processInfo.activeProcessorCount) { group.addTask { (0...n).reduce(0, +) } }
            return await group.reduce(0, +)
        }
        #expect(sums > 0)
        #expect(try test.instance.chains().isEmpty)

        flock(fd, LOCK_UN)
        held = false
        let installed = try await installs.value
        #expect(installed.sorted() == names)
        #expect(try test.instance.chains().map(\.name).sorted() == names)
    }

    /// A change that fails reports its typed error and leaves the queue serving the next one.
    @Test func aFailedChangeComesBackAsItsErrorAndTheNextRuns() async throws {
        let test = try KernelTest.instance()
        let service = DataPlaneService(DataPlane(instance: test.instance))
        await #expect(throws: ControlError.self) {
            try await service.perform { plane throws(ControlError) in try plane.removeChains(["no_such_chain"]) }
        }
        let report = try await service.perform { plane throws(ControlError) in
            try plane.install(try DataPlane.assemble(SourceText(file: "c.hasm", text: "chain after\n    call hike_pass\n")))
        }
        #expect(report.chains.map(\.name) == ["after"])
    }
}
