import Foundation
import HikeTestSupport
import NetKit
import Testing
import Topology

/// The original eclat client's protocol: a Python client generated at test time from
/// Protos/eclat.proto (Debian's grpc_tools) drives a daemon in a namespace as it drove eclatd.
@Suite(.serialized) struct EclatClientTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let python = "/usr/bin/python3"  // Debian's, which has python3-grpcio and python3-grpc-tools

    init() throws {
        try KernelTest.prepare()
    }

    /// What the client does, as eclat's commands do it: load (with -D done on the client side),
    /// fetch, read maps; each answer is printed as one JSON line.
    static let client = """
        import json, sys, grpc, eclat_pb2, eclat_pb2_grpc
        stub = eclat_pb2_grpc.EclatStub(grpc.insecure_channel("localhost:50051"))
        def show(step, r):
            print(json.dumps({"step": step, "status": r.status, "message": r.message}), flush=True)
        step = sys.argv[1]
        if step == "load":
            script = open(sys.argv[2]).read().replace("DEVNAME", sys.argv[3])
            show(step, stub.LoadConfiguration(eclat_pb2.EclatLoadRequest(script=script, package="defaultpkg"), timeout=60))
            show("fetch-pkg", stub.FetchPackage(eclat_pb2.EclatFetchPackageRequest(package="meter"), timeout=10))
            show("fetch-pkg-unknown", stub.FetchPackage(eclat_pb2.EclatFetchPackageRequest(package="no_such_package"), timeout=10))
            show("fetch", stub.FetchConfiguration(eclat_pb2.EclatFetchRequest(script=script, package="defaultpkg"), timeout=10))
            show("load-bad", stub.LoadConfiguration(eclat_pb2.EclatLoadRequest(script="def broken(:\\n", package="x"), timeout=10))
        elif step == "read":
            show("dump", stub.DumpMap(eclat_pb2.EclatDumpMapRequest(mapname="ip6_hset_sd"), timeout=10))
            for key in ("0", "1"):
                show("monitor-" + key, stub.GetMapValue(eclat_pb2.EclatGetMapValueRequest(mapname="monitor_events", key=key), timeout=10))
            show("get-bad", stub.GetMapValue(eclat_pb2.EclatGetMapValueRequest(mapname="monitor_events", key="x"), timeout=10))
        elif step == "quit":
            show(step, stub.Quit(eclat_pb2.EclatQuitRequest(), timeout=10))
        """

    /// Runs the client in the namespace (as eclat runs beside eclatd); returns its answers by step.
    static func run(_ arguments: [String], in namespace: NetworkNamespace, directory: String) throws -> [String: [String: String]] {
        let result = try Command.run(["ip", "netns", "exec", namespace.name, "env", "PYTHONPATH=\(directory)", python,
                                      "\(directory)/client.py"] + arguments)
        guard result.status == 0 else { throw DaemonTestError("the eclat client failed: \(result.stderr)") }
        var answers: [String: [String: String]] = [:]
        for line in result.stdout.split(separator: "\n") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String] ?? [:]
            answers[object["step"] ?? ""] = object
        }
        return answers
    }

    @Test func theOriginalClientLoadsTheDDoSScriptReadsItsMapsAndTheChainDrops() throws {
        let (topology, sender, dut) = try KernelTest.pair()
        defer { topology.destroy() }
        try DaemonScratch.with { scratch in
            // The client's stubs, generated now from the proto the daemon serves.
            let generate = try Command.run([Self.python, "-m", "grpc_tools.protoc", "-I", Self.root.appendingPathComponent("Protos").path,
                                            "--python_out=\(scratch.directory)", "--grpc_python_out=\(scratch.directory)", "eclat.proto"])
            #expect(generate.status == 0, "grpc_tools.protoc: \(generate.stderr)")
            _ = try scratch.write("client.py", Self.client)

            let daemon = try DaemonProcess(["--netns", dut.name, "--eclat", "127.0.0.1:50051", "--insecure"], scratch: scratch)
            defer { _ = daemon.stop() }
            #expect(daemon.eclatPort == 50051)

            // No neighbour discovery during the measurement: only the flow's datagrams meet the chain.
            let dutMAC = try Self.mac("veth0", in: dut, topology)
            _ = try topology.ip(["-6", "neigh", "add", "fc00::2", "lladdr", dutMAC, "dev", "veth0", "nud", "permanent"], in: sender)

            let script = Self.root.appendingPathComponent("examples/ddos/ddos.eclat").path
            let loaded = try Self.run(["load", script, "veth0"], in: dut, directory: scratch.directory)
            #expect(loaded["load"]?["status"] == "OK", "\(loaded["load"] ?? [:])")
            #expect(loaded["load"]?["message"]?.contains("installed chain ddos_tb_2_lev") == true)
            #expect(loaded["load"]?["message"]?.contains("attached ip6_classifier to veth0 in namespace \(dut.name)") == true)
            #expect(loaded["fetch-pkg"]?["status"] == "OK")
            #expect(loaded["fetch-pkg-unknown"]?["status"] == "FAIL")
            #expect(loaded["fetch-pkg-unknown"]?["message"]?.contains("hike_default") == true)
            #expect(loaded["fetch"]?["status"] == "OK")
            #expect(loaded["fetch"]?["message"]?.contains("ip6_sd_tbmon") == true)
            #expect(loaded["load-bad"]?["status"] == "FAIL")
            #expect(loaded["load-bad"]?["message"]?.contains("x.eclat:1:") == true)

            // Frozen clocks and small buckets, as the thesis' DDoS test sets them: a destination
            // takes 3 packets, a (source, destination) pair 5 more; the 9th blacklists the pair.
            let connect = ["--connect", "unix:\(daemon.socket)"]
            let slow = UInt64(1.0 * 1024 * Double(UInt64(1) << 30) / 1e9)
            func params(_ packets: Int) -> String { "{\"rate\":\(slow),\"bucket_size\":\(packets << 10),\"base_time_bits\":30,\"shift_tokens\":10}" }
            for update in [["tb_clock", "0", "1000000"],
                           ["ip6_hset_cfg", "0", "{\"timeout_ns\":1000000000000,\"clock_ns\":50000000}"],
                           ["tb_dst_cfg", "::", params(3)],
                           ["tb_sd_cfg", "{\"saddr\":\"::\",\"daddr\":\"::\"}", params(5)]] {
                let result = try scratch.hike(["map", "update"] + update + connect)
                #expect(result.status == 0, "hike map update \(update.joined(separator: " ")): \(result.stderr)")
            }

            let receiver = try UDPReceiver(in: dut, port: 7777)
            try Traffic.sendUDP(from: sender, to: "fc00::2", port: 7777, payload: Array("flood".utf8), count: 20)
            try KernelTest.waitUntil("the DUT received the 8 datagrams in profile") { receiver.drain() >= 8 }

            let read = try Self.run(["read"], in: dut, directory: scratch.directory)
            #expect(read["dump"]?["status"] == "OK")
            let dump = try JSONSerialization.jsonObject(with: Data((read["dump"]?["message"] ?? "").utf8)) as? [String: Any]
            let entries = dump?["entries"] as? [[String: Any]] ?? []
            #expect(entries.contains { ($0["key"] as? [String: Any])?["saddr"] as? String == "fc00::1"
                                       && ($0["key"] as? [String: Any])?["daddr"] as? String == "fc00::2" },
                    "the flooded pair is blacklisted: \(entries)")
            func monitor(_ key: String) throws -> Int {
                let text = read["monitor-\(key)"]?["message"] ?? ""
                let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
                return object?["sum"] as? Int ?? -1
            }
            // The chain counts every IPv6 packet on the link: the flow's 8 passed and 12 dropped,
            // and now and then the sender's own MLD report (to a group address, a bucket of its own).
            #expect(read["monitor-0"]?["status"] == "OK")
            #expect(try monitor("0") >= 8, "monitor(PASS): \(read["monitor-0"] ?? [:])")
            #expect(try monitor("1") >= 12, "monitor(DROP): \(read["monitor-1"] ?? [:])")
            #expect(read["get-bad"]?["status"] == "FAIL")
            #expect(receiver.drain() == 8)

            // Quit stops the daemon; the data plane stays.
            let quit = try Self.run(["quit"], in: dut, directory: scratch.directory)
            #expect(quit["quit"]?["status"] == "OK")
            try KernelTest.waitUntil("the daemon exits after Quit") { !daemon.process.isRunning }
            #expect(daemon.process.terminationStatus == 0, "\(daemon.output)")
            #expect(try scratch.hike(["loader", "list"]).stdout.contains("veth0"))
        }
    }

    static func mac(_ interface: String, in namespace: NetworkNamespace, _ topology: Topology) throws -> String {
        let json = try topology.ip(["-j", "link", "show", interface], in: namespace)
        let links = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]]
        guard let address = links?.first?["address"] as? String else { throw DaemonTestError("no MAC address for \(interface)") }
        return address
    }
}
