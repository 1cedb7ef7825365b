import Foundation
import Monitoring
import BPFKit
import NetKit
import Topology

/// One STAMP session per period from h1 to h2's reflector, on a thread of its own: each starts
/// when the demo says a period started, so session k measures period k.
final class STAMPRunner: @unchecked Sendable {  // results and flags behind lock
    struct Session: Sendable {
        let result: STAMPResult
        let samples: [STAMPTimestamps]
    }

    private let namespace: NetworkNamespace
    private let count: Int
    private let interval: Duration
    private let timeout: Duration
    private let periods: Int
    private let metrics: MonitoringMetrics
    private let started = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var sessions: [Session] = []
    private var failure: String?
    private var cancelled = false

    init(namespace: NetworkNamespace, count: Int, interval: Duration, timeout: Duration, periods: Int, metrics: MonitoringMetrics) {
        self.namespace = namespace
        self.count = count
        self.interval = interval
        self.timeout = timeout
        self.periods = periods
        self.metrics = metrics
    }

    func start() {
        Thread { [self] in
            defer { finished.signal() }
            for _ in 1...periods {
                started.wait()
                if isCancelled { return }
                do {
                    let sender = try STAMPSessionSender(destination: VPNDemoOptions.h2Address, ssid: VPNDemoOptions.stampSSID,
                                                        namespace: namespace)
                    let (result, samples) = try sender.run(count: count, interval: interval, timeout: timeout)
                    metrics.record(result)
                    lock.lock()
                    sessions.append(Session(result: result, samples: samples))
                    lock.unlock()
                } catch {
                    lock.lock()
                    failure = String(describing: error)
                    lock.unlock()
                    return
                }
            }
        }.start()
    }

    /// A period started: the next session may run.
    func periodStarted() { started.signal() }

    private var isCancelled: Bool {
        lock.lock()
        defer { lock.unlock() }
        return cancelled
    }

    /// Ends the thread after its current session.
    func cancel() {
        lock.lock()
        cancelled = true
        lock.unlock()
        for _ in 0..<periods { started.signal() }
        finished.wait()
    }

    /// Waits for the last session; the sessions in period order.
    func wait() throws -> [Session] {
        finished.wait()
        lock.lock()
        defer { lock.unlock() }
        if let failure { throw VPNDemoError.measurement("STAMP: \(failure)") }
        return sessions
    }
}
