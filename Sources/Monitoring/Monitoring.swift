/// Performance monitoring: loss by alternate marking, delay by STAMP, metrics.
public enum Monitoring {}
