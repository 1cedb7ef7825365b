import Foundation
import BPFKit
import Synchronization
import NetKit
import Topology

/// The data traffic of the demo: UDP datagrams from h1 to h2 at a steady rate, sent from a
/// socket opened inside h1's namespace by a thread of its own. The pace is a traffic profile
/// (deadlines from the start, so no drift), not a synchronisation.
final class UDPFlowSender: Sendable {
    private let fd: Int32
    private let rate: Int
    private struct State {
        var stopped = false
        var paused = false
        var started = false
        var sent = 0
        var failure: String?
    }
    private let state = Mutex(State())
    private let finished = DispatchSemaphore(value: 0)

    init(in namespace: NetworkNamespace, to address: String, port: UInt16, rate: Int) throws {
        var destination = sockaddr_in6()
        destination.sin6_family = sa_family_t(AF_INET6)
        destination.sin6_port = port.bigEndian
        guard inet_pton(AF_INET6, address, &destination.sin6_addr) == 1 else {
            throw VPNDemoError.measurement("'\(address)' is not an IPv6 address")
        }
        fd = try namespace.run {
            let fd = socket(AF_INET6, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd < 0 { throw VPNDemoError.measurement("cannot open a UDP socket in \(namespace.name): \(String(cString: strerror(errno)))") }
            let connected = withUnsafePointer(to: &destination) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
            if connected != 0 {
                let error = errno
                close(fd)
                throw VPNDemoError.measurement("cannot connect to [\(address)]:\(port): \(String(cString: strerror(error)))")
            }
            return fd
        }
        self.rate = rate
    }

    deinit {
        stop()
        close(fd)
    }

    var sent: Int { state.withLock { $0.sent } }
    var failure: String? { state.withLock { $0.failure } }

    /// Starts sending on a thread of its own.
    func start() {
        state.withLock { $0.started = true }
        let thread = Thread { [self] in
            defer { finished.signal() }
            let clock = ContinuousClock()
            let begin = clock.now
            let gap = Duration.nanoseconds(1_000_000_000 / rate)
            var sequence: UInt64 = 0
            var payload = [UInt8](repeating: 0x5a, count: 64)
            var next = begin
            while true {
                // The send happens under the lock: once pause() returns, no datagram is on its way
                // out of h1 that the caller did not see counted.
                let goOn = state.withLock { state -> Bool in
                    if state.stopped { return false }
                    if !state.paused {
                        for i in 0..<8 { payload[i] = UInt8(truncatingIfNeeded: sequence >> (56 - 8 * i)) }
                        if send(fd, payload, payload.count, 0) >= 0 {
                            sequence += 1
                            state.sent += 1
                        } else if errno != EINTR && errno != ECONNREFUSED {
                            // ECONNREFUSED reports an ICMPv6 error for an earlier datagram, not this one's failure.
                            state.failure = "send: \(String(cString: strerror(errno)))"
                            return false
                        }
                    }
                    return true
                }
                if !goOn { return }
                next = next + gap
                let left = clock.now.duration(to: next)
                if left > .zero { Self.sleep(left) } else if left < .milliseconds(-100) { next = clock.now }  // no burst after a stall
            }
        }
        thread.start()
    }

    /// Holds the traffic (the thread keeps its pace but sends nothing) until resume().
    func pause() { state.withLock { $0.paused = true } }
    func resume() { state.withLock { $0.paused = false } }

    /// Stops the thread and waits for it to end.
    func stop() {
        let wasRunning = state.withLock { state -> Bool in
            defer { state.stopped = true }
            return state.started && !state.stopped
        }
        if wasRunning { finished.wait() }
    }

    static func sleep(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0, errno == EINTR { request = remaining }
    }
}

/// Counts the flow's datagrams that reach h2: a UDP socket bound inside h2's namespace, read by
/// a thread of its own.
final class UDPFlowReceiver: Sendable {
    private let fd: Int32
    private let state = Mutex((count: 0, stopped: false))
    private let finished = DispatchSemaphore(value: 0)

    init(in namespace: NetworkNamespace, port: UInt16) throws {
        var local = sockaddr_in6()
        local.sin6_family = sa_family_t(AF_INET6)
        local.sin6_port = port.bigEndian
        fd = try namespace.run {
            let fd = socket(AF_INET6, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd < 0 { throw VPNDemoError.measurement("cannot open a UDP socket in \(namespace.name): \(String(cString: strerror(errno)))") }
            var size: Int32 = 4 << 20
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
            if bound != 0 {
                let error = errno
                close(fd)
                throw VPNDemoError.measurement("cannot bind UDP port \(port) in \(namespace.name): \(String(cString: strerror(error)))")
            }
            return fd
        }
        let thread = Thread { [self] in
            defer { finished.signal() }
            var buffer = [UInt8](repeating: 0, count: 2048)
            while !isStopped {
                var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&descriptor, 1, 50) > 0 else { continue }
                // recv and count under one lock: isDrained then never sees a datagram taken but not counted.
                while state.withLock({ state -> Bool in
                    let got = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT)) >= 0
                    if got { state.count += 1 }
                    return got
                }) {}
            }
        }
        thread.start()
    }

    var received: Int { state.withLock { $0.count } }

    /// True when no datagram waits in the socket: every one the kernel delivered is counted.
    func isDrained() throws -> Bool {
        // Under the lock: a datagram taken but not yet counted would read as drained.
        let (queued, error) = state.withLock { _ -> (Int32?, Int32) in
            var queued: Int32 = 0
            return ioctl(fd, UInt(FIONREAD), &queued) == 0 ? (queued, 0) : (nil, errno)
        }
        guard let queued else {
            throw VPNDemoError.measurement("cannot read the receive queue of h2's socket: \(String(cString: strerror(error)))")
        }
        return queued == 0
    }

    private var isStopped: Bool { state.withLock { $0.stopped } }

    func stop() {
        let wasRunning = state.withLock { state -> Bool in
            defer { state.stopped = true }
            return !state.stopped
        }
        if wasRunning { finished.wait() }
    }

    deinit {
        stop()
        close(fd)
    }
}
