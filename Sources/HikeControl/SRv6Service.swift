import HikeErrors
import HikeRuntime
import SRv6

extension DataPlane {
    /// Applies an SRv6 configuration to the instance, changing only what differs from the last
    /// apply (SRv6Node.apply): everything is validated first, and a failing step undoes the
    /// steps before it. `dryRun` reports the plan and changes nothing.
    public func applySRv6(_ configuration: SRv6Configuration, dryRun: Bool = false) throws(ControlError) -> ApplyPlan {
        try ControlError.wrapping { try SRv6Node(instance: instance).apply(configuration, dryRun: dryRun) }
    }

    /// applySRv6 of a configuration given as YAML text (a remote request); its errors point at
    /// the text's lines.
    public func applySRv6(_ source: SourceText, dryRun: Bool = false) throws(ControlError) -> ApplyPlan {
        let configuration = try ControlError.wrapping { try SRv6Configuration.parse(source.text, file: source.file) }
        return try applySRv6(configuration, dryRun: dryRun)
    }

    /// The installed local SIDs and policies with their counters (`hike srv6 show`).
    public func srv6Status() throws(ControlError) -> SRv6Status {
        try ControlError.wrapping { try SRv6Node(instance: instance).status() }
    }

    /// Looks again at which veths cannot take XDP-redirected frames, once the peers are up;
    /// returns the warnings, as applySRv6's.
    @discardableResult
    public func refreshRedirectMarks() throws(ControlError) -> [String] {
        try ControlError.wrapping { try SRv6Node(instance: instance).refreshRedirectMarks() }
    }
}
