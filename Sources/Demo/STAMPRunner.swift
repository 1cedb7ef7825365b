import Foundation
import Monitoring
import BPFKit
import NetKit
import Synchronization
import Topology

/// One STAMP session per period from h1 to h2's reflector, on a thread of its own: each starts
/// when the demo says a period started, so session k measures period k.
final class STAMPRunner: Sendable {
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
    private struct State {
        var sessions: [Session] = []
        var failure: String?
        var cancelled = false
    }
    private let state = Mutex(State())

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
                    metrics.record(result, samples: samples)
                    state.withLock { $0.sessions.append(Session(result: result, samples: samples)) }
                } catch {
                    state.withLock { $0.failure = String(describing: error) }
                    return
                }
            }
        }.start()
    }

    /// A period started: the next session may run.
    func periodStarted() { started.signal() }

    private var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Ends the thread after its current session.
    func cancel() {
        state.withLock { $0.cancelled = true }
        for _ in 0..<periods { started.signal() }
        finished.wait()
    }

    /// Waits for the last session; the sessions in period order.
    func wait() throws -> [Session] {
        finished.wait()
        let (sessions, failure) = state.withLock { ($0.sessions, $0.failure) }
        if let failure { throw VPNDemoError.measurement("STAMP: \(failure)") }
        return sessions
    }
}
