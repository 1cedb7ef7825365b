import Testing
import Topology

/// iputils ping's summary, as `ping -q` prints it.
@Suite struct PingResultTests {
    @Test func theSummaryLineGivesTransmittedAndReceived() throws {
        let output = """
            PING fc00::2 (fc00::2) 56 data bytes

            --- fc00::2 ping statistics ---
            5 packets transmitted, 3 received, 40% packet loss, time 803ms
            rtt min/avg/max/mdev = 0.041/0.052/0.070/0.011 ms
            """
        let result = try PingResult(output: output)
        #expect(result.transmitted == 5 && result.received == 3 && result.lost == 2)
        #expect(result.description == "5 transmitted, 3 received")
    }

    @Test func errorsAndDuplicatesDoNotConfuseIt() throws {
        let result = try PingResult(output: "4 packets transmitted, 0 received, +4 errors, 100% packet loss, time 3050ms\n")
        #expect(result.transmitted == 4 && result.received == 0)
    }

    @Test func outputWithoutASummaryIsAnError() {
        #expect(throws: CommandError.self) { _ = try PingResult(output: "ping: connect: Network is unreachable\n") }
        #expect(throws: CommandError.self) { _ = try PingResult(output: "x packets transmitted\n") }
    }
}
