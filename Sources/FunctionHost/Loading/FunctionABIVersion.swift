import FunctionABI

/// The versions of the C boundary (swiftfunc.h) the host calls functions with, side by side.
package enum FunctionABIVersion: UInt32, Sendable {
    /// Events carry their headers: the host parses them for every message.
    case v1 = 1
    /// Events carry what is free; headers and the trace context are parsed when the function asks
    /// (sf_context.headers, .header, .trace_context), at most once per message.
    case v2 = 2

    /// "1 and 2", for the error that refuses another version.
    static var supported: String { "\(SWIFTFUNC_ABI_VERSION_1) and \(SWIFTFUNC_ABI_VERSION_2)" }

    /// Whether the host fills every event's headers before the call.
    var fillsHeaders: Bool { self == .v1 }
}
