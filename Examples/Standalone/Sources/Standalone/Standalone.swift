import SwiftFunctions

/// Logs each message's text with where it came from.
@_cdecl("run")
public func run(_ event: Event, _ context: Context) -> Status {
    context.run {
        context.logger.info("Standalone got '\(event.valueString ?? "")' from \(event.topic)[\(event.partition)]@\(event.offset)")
    }
}

@_cdecl("swiftfunc_signature_run")
public func runSignature() -> Signature { .of(run) }
