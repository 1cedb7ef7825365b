import Foundation

/// The repository's examples (examples/vpn/…), which tests load as a user would.
public enum Examples {
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The path of examples/vpn/name.
    public static func path(_ name: String) -> String {
        root.appendingPathComponent("examples/vpn/\(name)").path
    }
}
