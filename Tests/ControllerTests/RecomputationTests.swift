import Controller
import HikeRPC
import Testing

/// Paths computed again when metrics change, on HandTopology: what is pushed, and what is not.
@Suite struct RecomputationTests {
    static func request(_ intents: [Api_Intent]) -> Api_PathRequest {
        var request = Api_PathRequest()
        request.ipv6SourceAddress = HandTopology.client
        request.ipv6DestinationAddress = HandTopology.server
        request.intents = intents
        return request
    }

    /// A controller with one session that asked for intents; the first answer already read.
    static func session(_ intents: [Api_Intent], holdDown: Duration = .zero)
        async throws -> (IntentController, Int, AsyncStream<Api_PathResult>.Iterator) {
        let controller = IntentController(topology: try NetworkTopology.parse(HandTopology.yaml),
                                          settings: .init(holdDown: holdDown, flappingThreshold: 0.1))
        let (id, answers, _) = await controller.open(peer: "test")
        var iterator = answers.makeAsyncIterator()
        await controller.ask(request(intents), session: id)
        _ = await iterator.next()
        return (controller, id, iterator)
    }

    @Test func lossOnThePathMovesTheLowLossApplicationAndSaysWhy() async throws {
        // low-packet-loss alone: B (r1 r4 r5 r6) and C lose nothing, B has the lower IGP metric.
        var (controller, _, answers) = try await Self.session([HandTopology.intent(.lowPacketLoss)])
        // 5 % on r4→r5: B now costs −ln(0.95) ≈ 0.051, C still 0: C is better by 100 %.
        try await controller.set(LinkMetricsChange(lossPercent: 5), from: "r4", to: "r5", bothDirections: false, source: "test")
        let pushed = await answers.next()
        #expect(pushed?.ipv6SidAddresses == HandTopology.c)
        let request = try #require(await controller.status().sessions.first?.requests.first)
        #expect(request.routers == ["r1", "r2", "r5", "r6"])
        #expect(request.changes == 1)
        #expect(request.reason.hasPrefix("after r4→r5: loss 0→5 %: cost "), "\(request.reason)")
    }

    @Test func aGainBelowTheFlappingThresholdKeepsThePath() async throws {
        // low-latency: A (3000 µs); C takes 4500.
        var (controller, _, answers) = try await Self.session([HandTopology.intent(.lowLatency)])
        // A at 3000 + 1600 = 4600 µs: C (4500) is better by 2 %, below 10 %: A stays.
        try await controller.set(LinkMetricsChange(delayMicroseconds: 2600), from: "r2", to: "r3", bothDirections: false, source: "test")
        await controller.recompute()
        #expect(await controller.status().sessions.first?.requests.first?.routers == ["r1", "r2", "r3", "r6"])
        // A at 1000 + 4000 + 1000 = 6000 µs: C is better by 25 %: it is pushed.
        try await controller.set(LinkMetricsChange(delayMicroseconds: 4000), from: "r2", to: "r3", bothDirections: false, source: "test")
        #expect(await answers.next()?.ipv6SidAddresses == HandTopology.c)
    }

    @Test func aBrokenBoundMovesThePathWhateverTheThreshold() async throws {
        // low-latency with at most 5000 µs: A (3000).
        var (controller, _, answers) = try await Self.session([HandTopology.intent(.lowLatency, max: 5000)])
        // A at 5100 µs breaks the bound; C (4500) is only 12 % better, but within it.
        try await controller.set(LinkMetricsChange(delayMicroseconds: 3100), from: "r3", to: "r6", bothDirections: false, source: "test")
        #expect(await answers.next()?.ipv6SidAddresses == HandTopology.c)
        let reason = try #require(await controller.status().sessions.first?.requests.first?.reason)
        #expect(reason.contains("would take 5100 µs, more than the 5000 µs asked"), "\(reason)")
        // Nothing within 2000 µs… C at 4500 + 2000: no path, HawkEye's answer.
        try await controller.set(LinkMetricsChange(delayMicroseconds: 9000), from: "r5", to: "r6", bothDirections: false, source: "test")
        try await controller.set(LinkMetricsChange(delayMicroseconds: 9000), from: "r2", to: "r5", bothDirections: false, source: "test")
        #expect(await answers.next()?.ipv6SidAddresses == [HandTopology.server])
    }

    @Test func changesWithinTheHoldDownAreComputedOnce() async throws {
        // A hold-down far longer than the test: the two changes are gathered, and the computation
        // the test then asks for is the only one (no wall-clock race under a loaded CI).
        var (controller, _, answers) = try await Self.session([HandTopology.intent(.lowPacketLoss)], holdDown: .seconds(3600))
        try await controller.set(LinkMetricsChange(lossPercent: 5), from: "r4", to: "r5", bothDirections: false, source: "test")
        try await controller.set(LinkMetricsChange(lossPercent: 10), from: "r2", to: "r5", bothDirections: false, source: "test")
        #expect(await controller.status().sessions.first?.requests.first?.changes == 0, "nothing computed within the hold-down")
        await controller.recompute()
        // Now A loses 2 %, B 5 %, C 10 %: A, by −ln 0.98 ≈ 0.020 against B's 0.051, 61 % better.
        let pushed = await answers.next()
        #expect(pushed?.ipv6SidAddresses == HandTopology.a)
        let request = try #require(await controller.status().sessions.first?.requests.first)
        #expect(request.changes == 1)
        #expect(request.reason.contains("r4→r5: loss 0→5 %; r2→r5: loss 0→10 %"), "\(request.reason)")
    }

    @Test func aBadMetricChangesNothing() async throws {
        let controller = IntentController(topology: try NetworkTopology.parse(HandTopology.yaml))
        let before = await controller.status().links
        for (change, from, to, message) in [
            (LinkMetricsChange(lossPercent: 101), "r1", "r2", "loss is a percentage: 0–100, not 101.0"),
            (LinkMetricsChange(delayMicroseconds: -1), "r1", "r2", "delay is in µs and must be ≥ 0, not -1.0"),
            (LinkMetricsChange(lossPercent: 1), "r1", "r6", "no link joins r1 and r6"),
            (LinkMetricsChange(), "r1", "r2", "no metric given: set delay, jitter, loss, utilization, igp-metric or bandwidth"),
        ] {
            await #expect(throws: ControllerError.invalidArgument(message)) {
                try await controller.set(change, from: from, to: to, bothDirections: true, source: "test")
            }
        }
        #expect(await controller.status().links == before)
    }
}
