import BPFKit
import Foundation
import HikeRuntime
import HikeTestSupport
import Monitoring
import Testing

/// The pm package's ingress maps are one set per instance, whichever of the srv6 and pm objects
/// loads first (HikeInstance.sharedMaps); a pin of another layout is refused with the way out.
@Suite(.serialized) struct SharedMapsTests {
    init() throws {
        try KernelTest.prepare()
    }

    /// srv6 first: it creates pm_colour, pm_flows, pm_sent and pm_stats under maps/pm/ (none
    /// under maps/srv6/); pm then uses those very maps, and both headend and pm_mark programs
    /// refer to the same kernel maps.
    @Test func theHeadendLoadedFirstCreatesTheMapsPMThenUses() throws {
        let test = try KernelTest.instance()
        let hike = test.instance
        let encaps = try hike.loadProgram("srv6_h_encaps")
        let shared = ["pm_colour", "pm_flows", "pm_sent", "pm_stats"]
        // The link maps too (bpf/include/hike/pm_link.h: the srv6 endpoints mark monitored links).
        for map in shared + ["pm_recv", "pm_links"] {
            #expect(FileManager.default.fileExists(atPath: "\(hike.pinRoot)/maps/pm/\(map)"), "\(map)")
            #expect(!FileManager.default.fileExists(atPath: "\(hike.pinRoot)/maps/srv6/\(map)"), "\(map)")
        }
        let ids = try shared.map { try BPFMap.openPinned("\(hike.pinRoot)/maps/pm/\($0)").info.id }
        let node = LocalMonitoredNode(instance: hike)
        try node.loadPackage()
        try node.addFlow(7, mode: .altmark)
        #expect(try shared.map { try BPFMap.openPinned("\(hike.pinRoot)/maps/pm/\($0)").info.id } == ids)
        let mark = try #require(try hike.registry().programs["pm_mark"])
        for record in [encaps, mark] {
            let used = Set(try BPFProgram.openPinned(record.pin).info().mapIDs)
            #expect(Set(ids).isSubset(of: used), "\(record.name) uses maps \(used.sorted()), the shared ones are \(ids)")
        }
    }

    /// A map pinned under maps/pm/ with another layout (as an older hike's hash maps were) stops
    /// the load with an error that says how to get out, and loads nothing.
    @Test func aPinOfAnotherLayoutIsRefusedWithTheWayOut() throws {
        let test = try KernelTest.instance()
        let hike = test.instance
        try hike.loadProgram("hike_pass")  // the VM's maps exist now: pin one of them in pm_flows' place
        try BPFFileSystem.makeDirectories("\(hike.pinRoot)/maps/pm")
        try hike.systemMap("hvm_progs").pin(at: "\(hike.pinRoot)/maps/pm/pm_flows")
        #expect {
            try hike.loadProgram("pm_mark")
        } throws: { error in
            let text = String(describing: error)
            return text.contains("hike reset --instance \(hike.name)") && text.contains("pm_flows")
        }
        #expect(try hike.registry().programs["pm_mark"] == nil)
        #expect(!FileManager.default.fileExists(atPath: "\(hike.pinRoot)/progs/pm/pm_mark"))
    }
}
