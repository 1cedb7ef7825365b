import Controller
import Monitoring
import Testing

/// The loss of a link direction from reads taken at any time: a colour's counters are final once
/// it has been idle for the grace time, and a read of a later idle time of the same colour closes
/// the periods in between. Counts worked out by hand in the comments.
struct LinkLossEstimatorTests {
    @Test func periodsCloseOnlyOnAnotherIdleTimeOfTheSameColour() {
        var estimator = LinkLossEstimator(grace: 0.1)
        // Colour 1 active since 10.0: colour 0 idle. First read of colour 0: a baseline.
        #expect(estimator.add(active: .one, since: 10.0, sentAt: 10.5, receivedAt: 10.5, sent: [100, 0], received: [100, 0]) == nil)
        // The same idle time read again: nothing new.
        #expect(estimator.add(active: .one, since: 10.0, sentAt: 10.8, receivedAt: 10.8, sent: [100, 0], received: [100, 0]) == nil)
        // Flipped at 11.0; read 50 ms later, within the grace: not final yet.
        #expect(estimator.add(active: .zero, since: 11.0, sentAt: 11.05, receivedAt: 11.05, sent: [150, 80], received: [145, 70]) == nil)
        // Colour 1 final: its first read, a baseline.
        #expect(estimator.add(active: .zero, since: 11.0, sentAt: 11.5, receivedAt: 11.5, sent: [150, 80], received: [145, 77]) == nil)
        // Colour 0 idle again since 12.0: sent 250 − 100 = 150, received 240 − 100 = 140, lost 10.
        let periods = estimator.add(active: .one, since: 12.0, sentAt: 12.5, receivedAt: 12.5, sent: [250, 80], received: [240, 77])
        #expect(periods == LinkLossEstimator.Periods(sent: 150, received: 140))
        #expect(periods?.lost == 10)
        #expect(periods.map { abs($0.loss - 10.0 / 150) < 1e-12 } == true)
    }

    @Test func aCounterThatWentBackStartsAgainFromABaseline() {
        var estimator = LinkLossEstimator(grace: 0.1)
        _ = estimator.add(active: .zero, since: 11.0, sentAt: 11.5, receivedAt: 11.5, sent: [0, 80], received: [0, 77])
        // Colour 1 idle again, its counters recreated (80 → 10): a new baseline, no figures.
        #expect(estimator.add(active: .zero, since: 13.0, sentAt: 13.5, receivedAt: 13.5, sent: [0, 10], received: [0, 9]) == nil)
        // The next idle time of colour 1: 60 − 10 = 50 sent, 59 − 9 = 50 received.
        #expect(estimator.add(active: .zero, since: 15.0, sentAt: 15.5, receivedAt: 15.5, sent: [0, 60], received: [0, 59])
                == LinkLossEstimator.Periods(sent: 50, received: 50))
    }

    @Test func nothingIsConcludedWithoutAFlipTimeOrBeforeTheReceiverIsFinal() {
        var estimator = LinkLossEstimator(grace: 0.2)
        #expect(estimator.add(active: .one, since: nil, sentAt: 10.5, receivedAt: 10.5, sent: [1, 0], received: [1, 0]) == nil)
        _ = estimator.add(active: .one, since: 10.0, sentAt: 10.5, receivedAt: 10.5, sent: [1, 0], received: [1, 0])
        // The receiver was read 0.1 s after the flip, within the 0.2 s grace: not taken.
        #expect(estimator.add(active: .one, since: 12.0, sentAt: 12.5, receivedAt: 12.1, sent: [9, 0], received: [5, 0]) == nil)
        // More received than sent (duplicates) is no loss.
        #expect(estimator.add(active: .one, since: 14.0, sentAt: 14.5, receivedAt: 14.5, sent: [19, 0], received: [21, 0])?.loss == 0)
    }
}
