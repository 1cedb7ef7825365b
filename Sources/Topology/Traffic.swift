import BPFKit
import CLinux
import Foundation
import NetKit

/// What `ping` reported.
public struct PingResult: Sendable, CustomStringConvertible {
    public let transmitted: Int
    public let received: Int
    public let output: String

    public var lost: Int { transmitted - received }
    public var description: String { "\(transmitted) transmitted, \(received) received" }

    /// Reads the summary line of iputils ping (`5 packets transmitted, 5 received, …`).
    public init(output: String) throws {
        self.output = output
        guard let line = output.split(separator: "\n").first(where: { $0.contains("packets transmitted") }) else {
            throw CommandError(command: ["ping"], status: -1, stderr: "no summary line in ping's output", stdout: output)
        }
        let numbers = line.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "") }
        guard numbers.count >= 2 else {
            throw CommandError(command: ["ping"], status: -1, stderr: "cannot read '\(line)'", stdout: output)
        }
        transmitted = numbers[0]
        received = numbers[1]
    }
}

/// Real traffic from inside a namespace.
public enum Traffic {
    /// The ping command for count echo requests every interval seconds (≥ 0.002 needs root).
    static func pingCommand(from namespace: NetworkNamespace, to address: String, count: Int,
                            interval: Double, deadline: Int?) -> [String] {
        var command = ["ip", "netns", "exec", namespace.name, "ping", "-n", "-q", "-c", String(count),
                       "-i", String(interval), "-W", "1"]
        if let deadline { command += ["-w", String(deadline)] }
        return command + [address]
    }

    /// Pings address from inside the namespace and waits for the summary. `ip netns exec` is
    /// fine here: the /sys it remounts is the child's alone.
    public static func ping(from namespace: NetworkNamespace, to address: String, count: Int = 3,
                            interval: Double = 0.2) throws -> PingResult {
        let result = try Command.run(pingCommand(from: namespace, to: address, count: count, interval: interval,
                                                 deadline: nil))
        // ping exits 1 when replies are missing; the summary still tells how many.
        if result.status > 1 { try result.checked() }
        return try PingResult(output: result.stdout)
    }

    /// Starts a ping in the background; `finish` waits for it and reads the summary.
    public static func startPing(from namespace: NetworkNamespace, to address: String, count: Int,
                                 interval: Double, deadline: Int? = nil) throws -> BackgroundPing {
        BackgroundPing(try Command.start(pingCommand(from: namespace, to: address, count: count,
                                                     interval: interval, deadline: deadline)))
    }

    /// Sends count UDP datagrams from inside the namespace to [address]:port.
    public static func sendUDP(from namespace: NetworkNamespace, to address: String, port: UInt16,
                               payload: [UInt8], count: Int = 1) throws {
        try namespace.run {
            let socket = try Socket(datagramTo: address, port: port)
            for _ in 0..<count { try socket.send(payload) }
        }
    }

    /// Sends raw Ethernet frames out of an interface of the namespace (AF_PACKET).
    public static func sendFrames(_ frames: [[UInt8]], interface: String, in namespace: NetworkNamespace) throws {
        try namespace.run {
            let socket = try Socket(packetOn: NetworkInterface.index(of: interface))
            for frame in frames { try socket.send(frame) }
        }
    }
}

/// A ping running in the background.
public struct BackgroundPing: Sendable {
    let command: RunningCommand
    init(_ command: RunningCommand) { self.command = command }

    public var isRunning: Bool { command.isRunning }

    /// Waits for ping to end and reads its summary.
    public func finish() throws -> PingResult {
        let result = command.wait()
        if result.status > 1 { try result.checked() }
        return try PingResult(output: result.stdout)
    }
}

/// A socket made inside a namespace (it stays in that namespace wherever it is used).
final class Socket {
    private let fd: Int32
    private var destination: sockaddr_storage?
    private var destinationLength: socklen_t = 0

    /// A UDP socket aimed at an IPv4 or IPv6 address.
    init(datagramTo address: String, port: UInt16) throws {
        var storage = sockaddr_storage()
        var six = sockaddr_in6()
        var four = sockaddr_in()
        let family: Int32
        if inet_pton(AF_INET6, address, &six.sin6_addr) == 1 {
            six.sin6_family = sa_family_t(AF_INET6)
            six.sin6_port = port.bigEndian
            withUnsafeBytes(of: six) { src in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: src) } }
            destinationLength = socklen_t(MemoryLayout<sockaddr_in6>.size)
            family = AF_INET6
        } else if inet_pton(AF_INET, address, &four.sin_addr) == 1 {
            four.sin_family = sa_family_t(AF_INET)
            four.sin_port = port.bigEndian
            withUnsafeBytes(of: four) { src in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: src) } }
            destinationLength = socklen_t(MemoryLayout<sockaddr_in>.size)
            family = AF_INET
        } else {
            throw BPFError.invalid("send UDP", "'\(address)' is not an IPv4 or IPv6 address")
        }
        fd = socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw BPFError(operation: "open UDP socket", errno: errno) }
        destination = storage
    }

    /// A raw packet socket sending whole Ethernet frames out of one interface.
    init(packetOn interfaceIndex: Int32) throws {
        fd = socket(AF_PACKET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw BPFError(operation: "open packet socket", errno: errno) }
        var address = sockaddr_ll()
        address.sll_family = UInt16(AF_PACKET)
        address.sll_ifindex = interfaceIndex
        address.sll_halen = 6
        var storage = sockaddr_storage()
        withUnsafeBytes(of: address) { src in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: src) } }
        destination = storage
        destinationLength = socklen_t(MemoryLayout<sockaddr_ll>.size)
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) throws {
        guard var destination else { return }
        let length = destinationLength
        let sent = withUnsafePointer(to: &destination) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                sendto(fd, bytes, bytes.count, 0, address, length)
            }
        }
        if sent < 0 { throw BPFError(operation: "send \(bytes.count) bytes", errno: errno) }
    }
}

/// A UDP socket bound inside a namespace that counts the datagrams it receives.
public final class UDPReceiver: @unchecked Sendable {  // used by one test thread
    private let fd: Int32
    public let port: UInt16
    public private(set) var received = 0

    /// Binds [::]:port (IPv6 and IPv4-mapped) inside the namespace.
    public init(in namespace: NetworkNamespace, port: UInt16) throws {
        self.port = port
        fd = try namespace.run {
            let fd = socket(AF_INET6, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            if fd < 0 { throw BPFError(operation: "open UDP socket", errno: errno) }
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
            if bound != 0 {
                let error = errno
                close(fd)
                throw BPFError(operation: "bind UDP port \(port) in \(namespace.name)", errno: error)
            }
            return fd
        }
    }

    deinit { close(fd) }

    /// Reads every datagram waiting now; returns the total received so far.
    @discardableResult
    public func drain() -> Int {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while recv(fd, &buffer, buffer.count, 0) >= 0 { received += 1 }
        return received
    }
}
