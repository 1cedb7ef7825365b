/// Declarative testbeds: topologies in YAML brought up in network namespaces.
public enum Testbed {}
