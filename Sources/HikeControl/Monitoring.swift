import HikeErrors
import HikeRuntime
import Monitoring

extension DataPlane {
    /// Adds a monitored flow (`hike pm flow add`): loads the pm package if it is not, then counts
    /// the flow and, with a mode, marks it at this node (LocalMonitoredNode.addFlow undoes its
    /// own writes when one fails).
    public func addMonitoringFlow(_ flow: UInt32, mode: MarkingMode?, destination: String?) throws(ControlError) {
        try ControlError.wrapping {
            let node = LocalMonitoredNode(instance: instance)
            try node.loadPackage()
            try node.addFlow(flow, mode: mode, destination: destination)
        }
    }

    /// Removes a monitored flow and its counters.
    public func removeMonitoringFlow(_ flow: UInt32) throws(ControlError) {
        try ControlError.wrapping { try LocalMonitoredNode(instance: instance).removeFlow(flow) }
    }
}
