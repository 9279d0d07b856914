import SwiftFunctions

/// cardinality ONE, dataType string: greets whoever the message names.
@_cdecl("run")
public func run(_ event: Event, _ context: Context) -> Status {
    context.run {
        context.logger.info("Hello, \(event.valueString ?? "nobody")!")
    }
}

/// Lets the host check function.json against this entry point's parameters when it loads.
@_cdecl("swiftfunc_signature_run")
public func runSignature() -> Signature { .of(run) }
