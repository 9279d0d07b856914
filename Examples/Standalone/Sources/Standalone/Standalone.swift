import SwiftFunctions

/// Logs each message's text with where it came from.
@_cdecl("run")
public func run(_ event: UnsafePointer<sf_event>?, _ context: UnsafePointer<sf_context>?) -> Int32 {
    invoke(event, context) { event, context in
        context.log("Standalone got '\(event.valueString ?? "")' from \(event.topic)[\(event.partition)]@\(event.offset)")
    }
}
