import Foundation
import BPFKit
import NetKit
import Topology

/// The data traffic of the demo: UDP datagrams from h1 to h2 at a steady rate, sent from a
/// socket opened inside h1's namespace by a thread of its own. The pace is a traffic profile
/// (deadlines from the start, so no drift), not a synchronisation.
final class UDPFlowSender: @unchecked Sendable {  // fd immutable; the counters and flags behind lock
    private let fd: Int32
    private let rate: Int
    private let lock = NSLock()
    private var stopped = false
    private var paused = false
    private var sentCount = 0
    private var failureText: String?
    private let finished = DispatchSemaphore(value: 0)
    private var started = false

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

    var sent: Int { locked { sentCount } }
    var failure: String? { locked { failureText } }

    /// Starts sending on a thread of its own.
    func start() {
        locked { started = true }
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
                lock.lock()
                if stopped {
                    lock.unlock()
                    return
                }
                if !paused {
                    for i in 0..<8 { payload[i] = UInt8(truncatingIfNeeded: sequence >> (56 - 8 * i)) }
                    if send(fd, payload, payload.count, 0) >= 0 {
                        sequence += 1
                        sentCount += 1
                    } else if errno != EINTR && errno != ECONNREFUSED {
                        // ECONNREFUSED reports an ICMPv6 error for an earlier datagram, not this one's failure.
                        failureText = "send: \(String(cString: strerror(errno)))"
                        lock.unlock()
                        return
                    }
                }
                lock.unlock()
                next = next + gap
                let left = clock.now.duration(to: next)
                if left > .zero { Self.sleep(left) } else if left < .milliseconds(-100) { next = clock.now }  // no burst after a stall
            }
        }
        thread.start()
    }

    /// Holds the traffic (the thread keeps its pace but sends nothing) until resume().
    func pause() { locked { paused = true } }
    func resume() { locked { paused = false } }

    /// Stops the thread and waits for it to end.
    func stop() {
        let wasRunning = locked { () -> Bool in
            defer { stopped = true }
            return started && !stopped
        }
        if wasRunning { finished.wait() }
    }

    private func locked<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
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
final class UDPFlowReceiver: @unchecked Sendable {  // fd immutable; the count behind lock
    private let fd: Int32
    private let lock = NSLock()
    private var count = 0
    private var stopped = false
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
                while true {
                    lock.lock()
                    let got = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT)) >= 0
                    if got { count += 1 }
                    lock.unlock()
                    if !got { break }
                }
            }
        }
        thread.start()
    }

    var received: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }

    /// True when no datagram waits in the socket: every one the kernel delivered is counted.
    func isDrained() throws -> Bool {
        lock.lock()
        defer { lock.unlock() }
        var queued: Int32 = 0
        guard ioctl(fd, UInt(FIONREAD), &queued) == 0 else {
            throw VPNDemoError.measurement("cannot read the receive queue of h2's socket: \(String(cString: strerror(errno)))")
        }
        return queued == 0
    }

    private var isStopped: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopped
    }

    func stop() {
        lock.lock()
        let wasRunning = !stopped
        stopped = true
        lock.unlock()
        if wasRunning { finished.wait() }
    }

    deinit {
        stop()
        close(fd)
    }
}
