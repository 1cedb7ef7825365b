/// The eBPF instruction model (pure Swift) is part of BPFKit's API.
@_exported import BPFInstructions
