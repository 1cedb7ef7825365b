import BPFKit
