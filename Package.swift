// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "hike",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "hike", targets: ["hike"]),
        .library(name: "BPFKit", targets: ["BPFKit"]),
        .library(name: "BPFInstructions", targets: ["BPFInstructions"]),
        .library(name: "Topology", targets: ["Topology"]),
        .library(name: "HikeVM", targets: ["HikeVM"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // YAML for SRv6 configurations and testbed topologies.
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        // The daemon: gRPC (hike.v1 and eclatd's Eclat) over HTTP/2 with TLS, /metrics on NIO's
        // HTTP/1 and swift-prometheus, lifecycle, logs.
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        // libbpf (Debian's libbpf-dev) plus static-inline shims for its LIBBPF_OPTS structs.
        .systemLibrary(
            name: "CBPF",
            pkgConfig: "libbpf",
            providers: [.apt(["libbpf-dev"])]
        ),
        .systemLibrary(name: "CLinux"),
        // The eBPF instruction: model, encoder, decoder, llvm-objdump-exact disassembler. Pure Swift.
        // The one error protocol (code, message, source position) every module's errors conform to.
        .target(name: "HikeErrors"),
        .target(name: "BPFInstructions", dependencies: ["HikeErrors"]),
        .target(name: "HikeVM", dependencies: ["BPFInstructions", "HikeErrors"]),
        // The VM's reference interpreter, random chains and reference programs: what the VM tests
        // compare the kernel's VM against (tests only).
        .target(name: "HikeVMTestSupport", dependencies: ["HikeVM", "BPFInstructions"]),
        // The eCLAT compiler: scripts → HIKe VM bytecode. Pure Swift: compiles against a catalog.
        .target(name: "ECLAT", dependencies: ["HikeVM", "BPFInstructions"]),
        .target(name: "BPFKit", dependencies: ["CBPF", "CLinux", "BPFInstructions", "HikeErrors"]),

        // Compiles every *.bpf.c under the directories named in the target's bpf-embed.conf
        // with clang -target bpf and embeds the objects into the target.
        .plugin(name: "BPFCompilerPlugin", capability: .buildTool()),
        .target(
            name: "BPFObjects",
            exclude: ["bpf-embed.conf"],
            plugins: ["BPFCompilerPlugin"]
        ),
        // Objects that only tests load (a program the verifier must reject, …).
        .target(
            name: "BPFTestObjects",
            dependencies: ["BPFObjects"],
            exclude: ["bpf-embed.conf"],
            plugins: ["BPFCompilerPlugin"]
        ),

        // The HIKe runtime: program registry, chain store, loaders, faults; pinned under bpffs.
        .target(name: "HikeRuntime", dependencies: ["BPFKit", "BPFObjects", "HikeVM", "HikeErrors", "NetKit"]),
        // The service layer: every change to a data plane as one typed, checked, transactional call.
        .target(name: "HikeControl", dependencies: ["BPFKit", "CBPF", "HikeRuntime", "HikeVM", "ECLAT", "HikeErrors", "Monitoring", "NetKit", "SRv6"]),
        // The kernel's network stack over rtnetlink: links, addresses, routes (seg6, seg6local);
        // typed addresses and prefixes.
        .target(name: "NetKit", dependencies: ["CLinux", "HikeErrors"]),
        // Network namespaces joined by veth pairs, with addresses and routes, for tests and testbeds.
        .target(name: "Topology", dependencies: ["BPFKit", "CLinux", "HikeErrors", "NetKit"]),
        // What hike needs from the kernel and the machine.
        .target(name: "Doctor", dependencies: ["BPFKit", "BPFObjects", "NetKit", "Topology", "HikeErrors"]),
        // Helpers shared by kernel tests: unique topologies, packet senders, counters.
        .target(name: "HikeTestSupport", dependencies: ["BPFKit", "BPFObjects", "NetKit", "Topology", "HikeRuntime", "Wing"]),
        // Figures as SVG text (bench bar charts, the demo's loss and delay).
        .target(name: "Plot"),
        // Benchmarks (`hike bench`): raw tail-call chains against HIKe chains, timed with test runs;
        // packet rates through generator → DUT → sink namespaces (`hike bench run`).
        .target(name: "Bench", dependencies: ["BPFKit", "BPFObjects", "ECLAT", "HikeControl", "HikeRuntime", "HikeVM", "Monitoring", "NetKit", "Plot", "SRv6", "Topology", "HikeErrors", "Wing", "Controller", "CLinux"]),
        // SRv6: SRH, SID and uSID types and codecs; YAML configuration → srv6 package maps and chains.
        .target(name: "SRv6", dependencies: ["BPFKit", "BPFObjects", "HikeErrors", "HikeRuntime", "HikeVM", "NetKit", "Yams"]),
        // Application-centric SRv6 on hosts (HawkWing): configuration, client and server.
        .target(name: "Wing", dependencies: ["BPFKit", "BPFObjects", "SRv6", "NetKit", "HikeErrors", "HikeRPC",
                                             .product(name: "Yams", package: "Yams"),
                                             .product(name: "GRPCCore", package: "grpc-swift-2"),
                                             .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport")]),
        // Performance monitoring: alternate-marking collector, STAMP sender, Prometheus metrics and endpoint.
        .target(name: "Monitoring", dependencies: ["BPFKit", "BPFObjects", "HikeErrors", "HikeRuntime", "NetKit", "Topology",
                                                   .product(name: "Prometheus", package: "swift-prometheus"),
                                                   .product(name: "NIOHTTP1", package: "swift-nio"),
                                                   .product(name: "NIOPosix", package: "swift-nio")]),
        // Declarative testbeds: YAML topologies → namespaces, links, routes, hike configurations.
        .target(name: "Controller", dependencies: ["HikeErrors", "HikeRPC", "Monitoring", "NetKit", "SRv6", "Wing", "Yams",
                                                   .product(name: "GRPCCore", package: "grpc-swift-2"),
                                                   .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport")]),
        .target(name: "Testbed", dependencies: ["BPFKit", "CLinux", "NetKit", "Topology", "HikeControl", "HikeRuntime", "ECLAT", "HikeErrors", "SRv6", "Wing", "Yams"]),
        // `hike demo vpn`: the VPN testbed with loss and delay monitoring, reported and plotted.
        .target(name: "Demo", dependencies: ["BPFKit", "Testbed", "Monitoring", "HikeErrors", "HikeRuntime", "NetKit", "Plot", "Topology"]),

        // The generated gRPC code of Protos/ (scripts/gen-proto.sh; committed).
        .target(
            name: "HikeRPC",
            dependencies: [
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        // `hike daemon`: the service layer over gRPC (hike.v1, eclatd's Eclat), /metrics, TLS;
        // and the client the CLI's --connect uses.
        .target(
            name: "Daemon",
            dependencies: [
                "HikeControl", "HikeErrors", "HikeRuntime", "HikeRPC", "ECLAT", "BPFKit", "NetKit", "SRv6", "Monitoring", "Yams",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        .executableTarget(
            name: "hike",
            dependencies: [
                "BPFKit", "BPFObjects", "NetKit", "Topology", "Doctor", "Bench", "HikeControl", "HikeErrors", "HikeRuntime", "HikeVM", "ECLAT", "Wing", "Controller",
                "SRv6", "Monitoring", "Testbed", "Demo", "Daemon", "HikeRPC",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
            ]
        ),

        .testTarget(name: "HikeVMTests", dependencies: ["HikeVM", "HikeVMTestSupport"]),
        .testTarget(name: "ECLATTests", dependencies: ["ECLAT", "HikeVM", "HikeVMTestSupport"]),
        .testTarget(name: "SRv6Tests", dependencies: ["BPFKit", "NetKit", "SRv6"]),
        .testTarget(name: "WingTests", dependencies: ["Wing", "HikeErrors", "NetKit", "SRv6"]),
        .testTarget(name: "ControllerTests", dependencies: ["Controller", "HikeRPC", "Monitoring", "NetKit", "Topology", "Wing",
                                                            .product(name: "GRPCCore", package: "grpc-swift-2"),
                                                            .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport")]),
        .testTarget(
            name: "WingKernelTests",
            dependencies: ["BPFKit", "BPFObjects", "NetKit", "Topology", "HikeTestSupport", "Wing"]
        ),
        .testTarget(name: "BenchTests", dependencies: ["Bench", "Plot"]),
        .testTarget(name: "TestbedTests", dependencies: ["HikeTestSupport", "Testbed"]),
        .testTarget(name: "HikeControlTests", dependencies: ["HikeControl", "HikeErrors", "HikeRuntime", "HikeTestSupport"]),
        .testTarget(name: "HikeRuntimeTests", dependencies: ["BPFKit", "BPFObjects", "BPFTestObjects", "HikeRuntime", "HikeTestSupport", "HikeVM"]),
        .testTarget(name: "MonitoringTests", dependencies: ["Monitoring"]),
        .testTarget(name: "TopologyTests", dependencies: ["Topology"]),
        .testTarget(name: "DoctorTests", dependencies: ["Doctor"]),
        .testTarget(name: "PlotTests", dependencies: ["Plot"]),
        .testTarget(name: "DemoTests", dependencies: ["Demo"]),
        .testTarget(name: "HikeErrorsTests", dependencies: ["HikeErrors"]),
        .testTarget(name: "DaemonTests", dependencies: ["Daemon"]),
        .testTarget(
            name: "DaemonKernelTests",
            dependencies: ["Daemon", "HikeRPC", "HikeTestSupport", "HikeRuntime", "HikeControl", "HikeVM", "NetKit", "Topology", "BPFKit",
                           .product(name: "GRPCCore", package: "grpc-swift-2"),
                           .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport")]
        ),
        .testTarget(
            name: "SRv6KernelTests",
            dependencies: ["BPFKit", "BPFObjects", "BPFTestObjects", "Topology", "HikeTestSupport", "HikeRuntime", "HikeVM", "NetKit", "SRv6"]
        ),
        .testTarget(
            name: "MonitoringKernelTests",
            dependencies: ["BPFKit", "BPFObjects", "Topology", "HikeTestSupport", "HikeRuntime", "HikeVM", "ECLAT", "HikeControl", "Monitoring", "NetKit", "SRv6"]
        ),
        .testTarget(
            name: "TestbedKernelTests",
            dependencies: ["BPFKit", "NetKit", "Topology", "HikeTestSupport", "HikeRuntime", "HikeRPC", "Testbed", "Wing",
                           .product(name: "GRPCCore", package: "grpc-swift-2"),
                           .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport")]
        ),
        .testTarget(
            name: "DemoKernelTests",
            dependencies: ["BPFKit", "NetKit", "Topology", "HikeTestSupport", "HikeRuntime", "Monitoring", "Testbed", "Demo"]
        ),
        .testTarget(
            name: "PackagesKernelTests",
            dependencies: ["BPFKit", "BPFObjects", "BPFTestObjects", "NetKit", "Topology", "HikeTestSupport", "HikeRuntime", "HikeVM",
                           "HikeControl", "SRv6"]
        ),
        .testTarget(
            name: "BPFKitTests",
            dependencies: ["BPFKit", "BPFObjects", "BPFTestObjects", "HikeTestSupport"]
        ),
        .testTarget(
            name: "BPFKitKernelTests",
            dependencies: ["BPFKit", "BPFObjects", "BPFTestObjects", "NetKit", "Topology", "HikeTestSupport", "Doctor"]
        ),
        .testTarget(name: "NetKitTests", dependencies: ["NetKit"]),
        .testTarget(
            name: "NetKitKernelTests",
            dependencies: ["BPFKit", "HikeErrors", "HikeTestSupport", "NetKit", "Topology"]
        ),
        .testTarget(
            name: "HikeControlKernelTests",
            dependencies: ["BPFKit", "HikeControl", "HikeErrors", "HikeRuntime", "HikeTestSupport", "HikeVM", "Topology"]
        ),
        .testTarget(
            name: "HikeRuntimeKernelTests",
            dependencies: ["BPFKit", "BPFObjects", "BPFTestObjects", "NetKit", "Topology", "HikeTestSupport", "HikeRuntime", "HikeVM", "HikeVMTestSupport",
                           "ECLAT", "HikeControl", "Bench", "Plot"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
