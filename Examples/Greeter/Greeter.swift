import SwiftFunctions

/// cardinality ONE, dataType string: greets whoever the message names.
@_cdecl("run")
public func run(_ event: UnsafePointer<sf_event>?, _ context: UnsafePointer<sf_context>?) -> Int32 {
    invoke(event, context) { event, context in
        context.log("Hello, \(event.valueString ?? "nobody")!")
    }
}
