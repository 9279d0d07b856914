#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What `swiftfunc_signature_ENTRY()` returns: the entry point's shape as text
/// (`"trigger=many outputs=1"`), which the host checks against function.json at load time.
///
/// Export it next to the entry point, and let the SDK compute it from the entry point's type:
/// ```swift
/// @_cdecl("swiftfunc_signature_run") public func runSignature() -> Signature { .of(run) }
/// ```
public typealias Signature = UnsafePointer<CChar>

extension UnsafePointer where Pointee == CChar {
    public static func of(_ entry: (Event, Context) -> Status) -> Signature { describe(.one, outputs: 0) }
    public static func of(_ entry: (Event, Output, Context) -> Status) -> Signature { describe(.one, outputs: 1) }
    public static func of(_ entry: (Event, Output, Output, Context) -> Status) -> Signature { describe(.one, outputs: 2) }
    public static func of(_ entry: (Event, Output, Output, Output, Context) -> Status) -> Signature { describe(.one, outputs: 3) }
    public static func of(_ entry: (Event, Output, Output, Output, Output, Context) -> Status) -> Signature { describe(.one, outputs: 4) }
    public static func of(_ entry: (Event, Int, Context) -> Status) -> Signature { describe(.many, outputs: 0) }
    public static func of(_ entry: (Event, Int, Output, Context) -> Status) -> Signature { describe(.many, outputs: 1) }
    public static func of(_ entry: (Event, Int, Output, Output, Context) -> Status) -> Signature { describe(.many, outputs: 2) }
    public static func of(_ entry: (Event, Int, Output, Output, Output, Context) -> Status) -> Signature { describe(.many, outputs: 3) }
    public static func of(_ entry: (Event, Int, Output, Output, Output, Output, Context) -> Status) -> Signature { describe(.many, outputs: 4) }
    public static func of(_ entry: (Document, Context) -> Status) -> Signature { describe(.document, outputs: 0) }
    public static func of(_ entry: (Document, Output, Context) -> Status) -> Signature { describe(.document, outputs: 1) }
    public static func of(_ entry: (Document, Output, Output, Context) -> Status) -> Signature { describe(.document, outputs: 2) }
    public static func of(_ entry: (Document, Output, Output, Output, Context) -> Status) -> Signature { describe(.document, outputs: 3) }
    public static func of(_ entry: (Document, Output, Output, Output, Output, Context) -> Status) -> Signature { describe(.document, outputs: 4) }
}

enum TriggerShape: String, CaseIterable {
    case one, many, document
}

/// The descriptor texts, made once and kept for the life of the library (the host may read them
/// at any time).
nonisolated(unsafe) private let descriptors: [String: Signature] = {
    var table: [String: Signature] = [:]
    for shape in TriggerShape.allCases {
        for outputs in 0...4 {
            let text = "trigger=\(shape.rawValue) outputs=\(outputs)"
            table[text] = Signature(strdup(text)!)
        }
    }
    return table
}()

private func describe(_ shape: TriggerShape, outputs: Int) -> Signature {
    descriptors["trigger=\(shape.rawValue) outputs=\(outputs)"]!
}
