import HikeErrors
import HikeRuntime
import Monitoring
import NetKit

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

extension DataPlane {
    /// Monitors an interface of the namespace netns (nil: hike's own) as one end of a link
    /// (`hike pm link set`): loads the pm package if needed; LocalMonitoredNode.setLink checks
    /// the whole change first and takes back its own writes when one fails.
    public func setMonitoredLink(interface: String, netns: String?, sendFlow: UInt32?, receiveFlow: UInt32?,
                                 dropPercent: Double) throws(ControlError) {
        try ControlError.wrapping {
            let ifindex = try NetworkStack(namespaceNamed: netns).interfaceIndex(interface)
            let node = LocalMonitoredNode(instance: instance)
            try node.loadPackage()
            try node.setLink(MonitoredLink(ifindex: ifindex, sendFlow: sendFlow, receiveFlow: receiveFlow, dropPercent: dropPercent))
        }
    }

    /// Stops monitoring an interface (its flows and counters stay).
    public func removeMonitoredLink(interface: String, netns: String?) throws(ControlError) {
        try ControlError.wrapping {
            let ifindex = try NetworkStack(namespaceNamed: netns).interfaceIndex(interface)
            try LocalMonitoredNode(instance: instance).removeLink(ifindex: ifindex, interface: interface)
        }
    }

    /// The monitored links with their counters (`hike pm link list`), named by the interfaces of
    /// netns (an index no interface there has is shown as `#INDEX`: the interface went away, or
    /// lives in another namespace).
    public func linkReport(netns: String?) throws(ControlError) -> LinkReport {
        try ControlError.wrapping {
            let stack = try NetworkStack(namespaceNamed: netns)
            let names = Dictionary(try stack.links().map { ($0.index, $0.name) }) { first, _ in first }
            return try LocalMonitoredNode(instance: instance).linkReport(names: names) { name in
                (try? stack.counters(of: name)).map {
                    LinkReport.InterfaceTotals(txPackets: $0.txPackets, txBytes: $0.txBytes, rxPackets: $0.rxPackets, rxBytes: $0.rxBytes)
                }
            }
        }
    }
}
